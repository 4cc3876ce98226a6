"""The official openai-v2 instrumentation, driving the real ``openai`` client, gives dataset logs.

Each configuration runs ``tests/scripts/genai_openai_chat.py`` in its own interpreter
(the instrumentor patches ``openai`` globally and reads its environment variables once),
against one OpenAI stub (``tests/openai_stub.py``) and one LocalRespan, all on 127.0.0.1.
The children start together and the parent reads what LocalRespan stored through
``RespanClient``.

What opentelemetry-instrumentation-openai-v2 2.4b0 with opentelemetry-util-genai 1.1b0
does, as these tests pin it down:

* it always writes the current GenAI conventions (``gen_ai.provider.name``,
  ``gen_ai.usage.input_tokens``...): util-genai's ``is_experimental_mode()`` is always
  true, so ``OTEL_SEMCONV_STABILITY_OPT_IN`` changes nothing;
* messages reach the span (``gen_ai.input.messages``/``gen_ai.output.messages``, JSON
  strings of ``[{role, parts: [{type: "text", content}]}]``) only with
  ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` = ``SPAN_ONLY`` or
  ``SPAN_AND_EVENT`` (``EVENT_ONLY`` sends them to log events, which a span exporter
  never sees); the legacy value ``true`` is refused (a warning) and means no content.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pytest

from respan_otel import RespanClient
from respan_otel._export._mapping import NO_INPUT
from respan_otel.client._types import DatasetLog
from respan_otel.local import LocalRespan
from tests.faulty_server import RecordedRequest
from tests.openai_stub import ANSWER, API_KEY, COMPLETION_ID, RESPONSE_MODEL, USAGE, openai_stub
from tests.scripts.genai_support import ChildRun, run_scripts

SCRIPT: Final = Path(__file__).parent / "scripts" / "genai_openai_chat.py"
TIMEOUT: Final = 60.0

MODEL: Final = "gpt-4o-mini"
MESSAGES: Final = [
    {"role": "system", "content": "Answer in one sentence."},
    {"role": "user", "content": "Hi!"},
    {"role": "assistant", "content": "Hello! How can I help?"},
    {"role": "user", "content": "What is the capital of France?"},
]
ON_SPAN_INPUT: Final = [
    {"role": message["role"], "parts": [{"type": "text", "content": message["content"]}]}
    for message in MESSAGES
]
"""The GenAI convention's message shape, as openai-v2 writes it on the span."""
ON_SPAN_OUTPUT: Final = [
    {"role": "assistant", "parts": [{"type": "text", "content": ANSWER}], "finish_reason": "stop"}
]
ROW_INPUT: Final = {"messages": MESSAGES}
"""The row's LLM input shape: chat messages as the API took them."""
ROW_OUTPUT: Final = {"role": "assistant", "content": ANSWER}

OPT_IN: Final = {"OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental"}
CAPTURE: Final = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
MODES: Final[dict[str, dict[str, str]]] = {
    "span_only": {CAPTURE: "SPAN_ONLY", **OPT_IN},
    "span_and_event_without_opt_in": {CAPTURE: "SPAN_AND_EVENT"},
    "no_content": {},
    "legacy_true": {CAPTURE: "true", **OPT_IN},
}
WITH_CONTENT: Final = ("span_only", "span_and_event_without_opt_in")
WITHOUT_CONTENT: Final = ("no_content", "legacy_true")

COMMON_ATTRIBUTES: Final = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": MODEL,
    "gen_ai.response.model": RESPONSE_MODEL,
    "gen_ai.response.id": COMPLETION_ID,
    "gen_ai.usage.input_tokens": USAGE["prompt_tokens"],
    "gen_ai.usage.output_tokens": USAGE["completion_tokens"],
}
"""What openai-v2 writes on every chat span, streamed or not, with or without content."""
PLAIN_ONLY_ATTRIBUTES: Final = {
    "gen_ai.request.temperature": 0.2,
    "gen_ai.request.max_tokens": 64,
    "gen_ai.response.finish_reasons": ["stop"],
    "openai.response.service_tier": "default",
    "openai.response.system_fingerprint": "fp_stub",
}
"""Only on the non-streamed call (the streamed one sets no request options here)."""
CONTENT_ATTRIBUTES: Final = ("gen_ai.input.messages", "gen_ai.output.messages")


@dataclass
class ChatRun:
    """One child: what it reported and what LocalRespan stored of it."""

    mode: str
    run: ChildRun
    logs: list[DatasetLog]

    def session(self, call: str) -> str:
        return f"{self.mode}-{call}"

    def log(self, call: str) -> DatasetLog:
        found = [log for log in self.logs if log.metadata.get("session_id") == self.session(call)]
        assert len(found) == 1, [log.metadata for log in self.logs]
        return found[0]

    def span(self, call: str) -> dict[str, Any]:
        spans = self.run.data["spans"]
        found = [s for s in spans if s["attributes"].get("respan.session_id") == self.session(call)]
        assert len(found) == 1, spans
        return found[0]  # type: ignore[no-any-return]


@dataclass
class Runs:
    """Every child, by mode, and every request the stub received from them all."""

    chats: dict[str, ChatRun]
    stub_requests: list[RecordedRequest]

    def __getitem__(self, mode: str) -> ChatRun:
        return self.chats[mode]


@pytest.fixture(scope="module")
def runs() -> Iterator[Runs]:
    """Every configuration of MODES, run at once against one stub and one LocalRespan."""
    with (
        openai_stub() as stub,
        LocalRespan() as server,
        RespanClient(api_key=server.api_key, base_url=server.base_url) as client,
    ):
        datasets = {
            mode: client.datasets.create(name=f"openai-v2 {mode}", is_empty=True).id
            for mode in MODES
        }
        jobs = {
            mode: (
                SCRIPT,
                {
                    "stub": stub.url,
                    "respan": server.base_url,
                    "api_key": server.api_key,
                    "dataset_id": datasets[mode],
                    "model": MODEL,
                    "messages": MESSAGES,
                    "sessions": [f"{mode}-plain", f"{mode}-stream"],
                },
                env,
            )
            for mode, env in MODES.items()
        }
        finished = run_scripts(jobs, timeout=TIMEOUT)
        chats = {
            mode: ChatRun(
                mode, finished[mode].check(), list(client.datasets.logs.iter(datasets[mode]))
            )
            for mode in MODES
        }
        yield Runs(chats, stub.requests)


def expected_metadata(chat: ChatRun, call: str) -> dict[str, Any]:
    return {
        "model": RESPONSE_MODEL,
        "provider": "openai",
        "log_type": "llm",
        "session_id": chat.session(call),
        "span_name": f"chat {MODEL}",
    }


def assert_llm_log(chat: ChatRun, call: str) -> DatasetLog:
    log = chat.log(call)
    metadata = {key: log.metadata.get(key) for key in expected_metadata(chat, call)}
    assert metadata == expected_metadata(chat, call)
    assert log.metrics["prompt_tokens"] == USAGE["prompt_tokens"] == 23
    assert log.metrics["completion_tokens"] == USAGE["completion_tokens"] == 7
    assert log.metrics["total_tokens"] == USAGE["total_tokens"] == 30
    assert log.metrics["latency"] > 0
    assert log.status_code == 200
    return log


def test_the_real_client_talked_to_the_stub(runs):
    for chat in runs.chats.values():
        assert chat.run.data["answer"] == ANSWER
        assert chat.run.data["streamed"] == ANSWER
        assert chat.run.data["stats"] | {"replayed": 0, "dead_lettered": 0} == {
            "exported": 2,
            "failed": 0,
            "dropped": 0,
            "spooled": 0,
            "replayed": 0,
            "dead_lettered": 0,
            "skipped_spans": 0,
            "incomplete_totals": 0,
            "requests": 2,
            "rate_limited": 0,
        }
    sent = runs.stub_requests
    assert len(sent) == 2 * len(MODES)
    assert {(r.method, r.route, r.header("Authorization")) for r in sent} == {
        ("POST", "/v1/chat/completions", f"Bearer {API_KEY}")
    }
    bodies = [r.json() for r in sent]
    assert sorted(bool(body.get("stream")) for body in bodies) == sorted([False, True] * len(MODES))
    assert all(body["model"] == MODEL and body["messages"] == MESSAGES for body in bodies)


@pytest.mark.parametrize("mode", WITH_CONTENT)
@pytest.mark.parametrize("call", ["plain", "stream"])
def test_with_span_content_the_log_has_messages_output_and_tokens(runs, mode, call):
    chat = runs[mode]
    assert len(chat.logs) == 2
    log = assert_llm_log(chat, call)
    assert log.input == ROW_INPUT
    assert log.output == ROW_OUTPUT
    assert log.output["content"] == "The capital of France is Paris."
    assert "carry no prompts or completions" not in chat.run.stderr


@pytest.mark.parametrize("mode", WITHOUT_CONTENT)
@pytest.mark.parametrize("call", ["plain", "stream"])
def test_without_span_content_the_log_still_has_model_and_tokens(runs, mode, call):
    chat = runs[mode]
    assert len(chat.logs) == 2
    log = assert_llm_log(chat, call)
    assert log.input == NO_INPUT
    assert log.output is None
    assert not set(CONTENT_ATTRIBUTES) & chat.span(call)["attributes"].keys()


@pytest.mark.parametrize("mode", WITHOUT_CONTENT)
def test_without_span_content_one_warning_names_the_settings(runs, mode):
    stderr = runs[mode].run.stderr
    assert stderr.count("carry no prompts or completions") == 1, stderr
    assert "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=span_only" in stderr
    assert "OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental" in stderr


def test_the_legacy_true_value_is_refused_with_a_warning(runs):
    stderr = runs["legacy_true"].run.stderr
    assert f"true is not a valid option for `{CAPTURE}`" in stderr
    assert "Defaulting to `NO_CONTENT`" in stderr
    assert "is not a valid option" not in runs["span_only"].run.stderr


@pytest.mark.parametrize("mode", list(MODES))
def test_the_attributes_openai_v2_writes(runs, mode):
    """Pins what the mapping reads: an upgrade that renames any of these fails here."""
    chat = runs[mode]
    assert len(chat.run.data["spans"]) == 2
    content = mode in WITH_CONTENT
    for call in ("plain", "stream"):
        span = chat.span(call)
        assert span["name"] == f"chat {MODEL}"
        assert span["kind"] == "CLIENT"
        assert span["scope"] == "opentelemetry.util.genai.handler"
        attributes = dict(span["attributes"])
        assert attributes.pop("respan.session_id") == chat.session(call)
        messages = {key: attributes.pop(key) for key in CONTENT_ATTRIBUTES if key in attributes}
        expected = dict(COMMON_ATTRIBUTES)
        if call == "plain":
            expected.update(PLAIN_ONLY_ATTRIBUTES)
        assert attributes == expected
        if content:
            assert isinstance(messages["gen_ai.input.messages"], str)
            assert json.loads(messages["gen_ai.input.messages"]) == ON_SPAN_INPUT
            assert json.loads(messages["gen_ai.output.messages"]) == ON_SPAN_OUTPUT
        else:
            assert messages == {}
