"""A tiny OpenAI-compatible chat completions server on 127.0.0.1, for instrumentation tests.

Built on :class:`tests.faulty_server.FaultyServer`: every request is recorded, and
``POST /v1/chat/completions`` is answered the way the OpenAI API answers it, with a
``chat.completion`` object and its ``usage``. With ``"stream": true`` it answers
server-sent events (``chat.completion.chunk`` objects, then ``data: [DONE]``), with a
last chunk carrying ``usage`` and no choices when ``stream_options.include_usage`` is
set, as the real API does. Anything else gets OpenAI's error shape (404, 401, 400).

The answer is deterministic: :data:`ANSWER`, with :data:`USAGE`, under
:data:`RESPONSE_MODEL` (a dated snapshot of the requested model, as OpenAI reports)::

    with openai_stub() as stub:
        client = openai.OpenAI(base_url=stub.url + "/v1", api_key="test")
"""

from __future__ import annotations

import base64
import json
import struct
from typing import Any, Final

from tests.faulty_server import FaultyServer, RecordedRequest, Reply

__all__ = [
    "ANSWER",
    "API_KEY",
    "COMPLETION_ID",
    "CREATED",
    "EMBEDDING_DIMENSIONS",
    "EMBEDDING_USAGE",
    "RESPONSE_MODEL",
    "STREAM_PIECES",
    "USAGE",
    "chat_completion",
    "embeddings",
    "openai_stub",
]

API_KEY: Final = "test"
"""The bearer key the stub accepts."""

COMPLETION_ID: Final = "chatcmpl-stub0001"
CREATED: Final = 1_714_000_000
RESPONSE_MODEL: Final = "gpt-4o-mini-2024-07-18"
"""The model the stub says answered (the request asks for ``gpt-4o-mini``)."""
STREAM_PIECES: Final = ("The capital ", "of France ", "is Paris.")
ANSWER: Final = "".join(STREAM_PIECES)
USAGE: Final = {"prompt_tokens": 23, "completion_tokens": 7, "total_tokens": 30}


def chat_completion(request: dict[str, Any]) -> dict[str, Any]:
    """The non-streaming answer to a chat completions request body."""
    return {
        "id": COMPLETION_ID,
        "object": "chat.completion",
        "created": CREATED,
        "model": RESPONSE_MODEL,
        "system_fingerprint": "fp_stub",
        "service_tier": "default",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": ANSWER,
                    "refusal": None,
                    "annotations": [],
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            **USAGE,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
    }


def _chunk(choices: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> bytes:
    body: dict[str, Any] = {
        "id": COMPLETION_ID,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": RESPONSE_MODEL,
        "system_fingerprint": "fp_stub",
        "choices": choices,
    }
    if usage is not None:
        body["usage"] = usage
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def _stream(request: dict[str, Any]) -> bytes:
    options = request.get("stream_options") or {}
    include_usage = bool(options.get("include_usage"))
    usage_field = {"usage": None} if include_usage else {}
    events = [
        _chunk(
            [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
            **usage_field,
        )
    ]
    events += [
        _chunk([{"index": 0, "delta": {"content": piece}, "finish_reason": None}], **usage_field)
        for piece in STREAM_PIECES
    ]
    events.append(_chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}], **usage_field))
    if include_usage:
        events.append(_chunk([], usage=dict(USAGE)))
    events.append(b"data: [DONE]\n\n")
    return b"".join(events)


EMBEDDING_DIMENSIONS: Final = 8
EMBEDDING_USAGE: Final = {"prompt_tokens": 4, "total_tokens": 4}


def embeddings(request: dict[str, Any]) -> dict[str, Any]:
    """The answer to an embeddings request: one small float vector per input text."""
    texts = request["input"] if isinstance(request["input"], list) else [request["input"]]
    vector = [0.125 * (i + 1) for i in range(EMBEDDING_DIMENSIONS)]
    encoded: Any = vector
    if request.get("encoding_format") == "base64":  # the openai client's default
        encoded = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": encoded} for i in range(len(texts))
        ],
        "model": request["model"],
        "usage": dict(EMBEDDING_USAGE),
    }


def _error(status: int, message: str, kind: str) -> Reply:
    return Reply(status, {"error": {"message": message, "type": kind, "param": None, "code": None}})


def _answer(request: RecordedRequest) -> Reply:
    if request.method == "POST" and request.route == "/v1/embeddings":
        return _embeddings(request)
    if request.method != "POST" or request.route != "/v1/chat/completions":
        return _error(404, f"Unknown request URL: {request.method} {request.route}", "not_found")
    if request.header("Authorization") != f"Bearer {API_KEY}":
        return _error(401, "Incorrect API key provided.", "invalid_request_error")
    try:
        body = request.json()
    except ValueError:
        return _error(400, "We could not parse the JSON body of your request.", "invalid_json")
    if not isinstance(body, dict) or not body.get("model") or not body.get("messages"):
        return _error(400, "'model' and 'messages' are required.", "invalid_request_error")
    if body.get("stream"):
        return Reply(
            200,
            _stream(body),
            headers={"Content-Type": "text/event-stream; charset=utf-8"},
        )
    return Reply(200, chat_completion(body), headers={"x-request-id": "req_stub"})


def _embeddings(request: RecordedRequest) -> Reply:
    if request.header("Authorization") != f"Bearer {API_KEY}":
        return _error(401, "Incorrect API key provided.", "invalid_request_error")
    return Reply(200, embeddings(request.json()))


def openai_stub() -> FaultyServer:
    """A stub server (not started: use it as a context manager); ``.url`` is its root."""
    return FaultyServer(handler=_answer)
