"""A tiny Anthropic Messages API server on 127.0.0.1, for instrumentation tests.

``POST /v1/messages`` is answered the way the Anthropic API answers it: a ``message``
object with one text block and its ``usage``. Anything else gets Anthropic's error shape.
The answer is deterministic: :data:`ANSWER` with :data:`USAGE` under :data:`MODEL`::

    with anthropic_stub() as stub:
        client = anthropic.Anthropic(base_url=stub.url, api_key=API_KEY)
"""

from __future__ import annotations

from typing import Any, Final

from tests.faulty_server import FaultyServer, RecordedRequest, Reply

__all__ = ["ANSWER", "API_KEY", "MESSAGE_ID", "MODEL", "USAGE", "anthropic_stub"]

API_KEY: Final = "test-anthropic"
MESSAGE_ID: Final = "msg_stub0001"
MODEL: Final = "claude-3-5-haiku-20241022"
ANSWER: Final = "Paris is the capital of France."
USAGE: Final = {"input_tokens": 31, "output_tokens": 9}


def message(request: dict[str, Any]) -> dict[str, Any]:
    """The answer to a Messages API request body (not streamed)."""
    return {
        "id": MESSAGE_ID,
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [{"type": "text", "text": ANSWER}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            **USAGE,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }


def _error(status: int, message: str, kind: str) -> Reply:
    return Reply(status, {"type": "error", "error": {"type": kind, "message": message}})


def _answer(request: RecordedRequest) -> Reply:
    if request.method != "POST" or request.route != "/v1/messages":
        return _error(404, f"Not found: {request.method} {request.route}", "not_found_error")
    # older clients send x-api-key, newer ones a bearer token
    keys = {request.header("x-api-key"), request.header("Authorization")}
    if not keys & {API_KEY, f"Bearer {API_KEY}"}:
        return _error(401, "invalid x-api-key", "authentication_error")
    try:
        body = request.json()
    except ValueError:
        return _error(400, "invalid JSON body", "invalid_request_error")
    if not isinstance(body, dict) or not body.get("model") or not body.get("messages"):
        return _error(400, "model and messages are required", "invalid_request_error")
    if body.get("stream"):
        return _error(400, "this stub does not stream", "invalid_request_error")
    return Reply(200, message(body), headers={"request-id": "req_stub"})


def anthropic_stub() -> FaultyServer:
    """A stub server (not started: use it as a context manager); ``.url`` is its root."""
    return FaultyServer(handler=_answer)
