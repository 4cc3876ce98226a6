"""span_to_log: our spans and other instrumentations' spans become dataset logs."""

from __future__ import annotations

import json

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import Status, StatusCode

from respan_otel import propagate, span, trace
from respan_otel._export._mapping import is_root, span_to_log
from respan_otel._redact import get_redactor
from tests.conftest import by_name


def finished(exporter, name: str) -> ReadableSpan:
    return by_name(exporter.get_finished_spans(), name)


def test_a_traced_call_becomes_a_complete_log(exporter):
    @trace(kind="llm", dataset="qa", metadata={"model": "gpt-x", "prompt_version": 3})
    def answer(question: str, temperature: float = 0.5) -> dict[str, str]:
        from respan_otel import update_current_span

        update_current_span(metrics={"prompt_tokens": 11, "completion_tokens": 4, "cost": 0.01})
        return {"text": "42"}

    with propagate(
        session_id="s1",
        customer_identifier="c1",
        thread_identifier="t1",
        custom_identifier="x1",
        metadata={"tenant": "acme"},
    ):
        answer("meaning?")
    source = finished(exporter, answer.__qualname__)
    mapped = span_to_log(source)
    assert mapped is not None
    assert mapped.dataset == "qa"
    body = mapped.body
    assert body["input"] == {"question": "meaning?", "temperature": 0.5}
    assert body["output"] == {"text": "42"}
    assert body["status_code"] == 200
    metadata = body["metadata"]
    assert metadata == {
        "tenant": "acme",
        "model": "gpt-x",
        "prompt_version": 3,
        "log_type": "llm",
        "session_id": "s1",
        "customer_identifier": "c1",
        "thread_identifier": "t1",
        "custom_identifier": "x1",
        "span_name": answer.__qualname__,
        "trace_id": f"{source.context.trace_id:032x}",
        "span_id": f"{source.context.span_id:016x}",
        "service_name": source.resource.attributes["service.name"],
    }
    metrics = body["metrics"]
    assert metrics["prompt_tokens"] == 11
    assert metrics["completion_tokens"] == 4
    assert metrics["total_tokens"] == 15
    assert metrics["cost"] == 0.01
    assert metrics["latency"] == pytest.approx((source.end_time - source.start_time) / 1e9)
    assert body["start_time"].endswith("Z")
    assert body["timestamp"] >= body["start_time"]
    assert json.loads(json.dumps(body, allow_nan=False)) == body


def test_failed_span_becomes_a_log_with_the_error(exporter):
    @trace(name="breaks")
    def breaks(x):
        raise KeyError("missing")

    with pytest.raises(KeyError):
        breaks(1)
    body = span_to_log(finished(exporter, "breaks")).body
    assert body["status_code"] == 500
    assert body["metadata"]["error_type"] == "builtins.KeyError"
    assert "missing" in body["error_message"]
    assert body["error_message"] == body["metadata"]["error_message"]
    assert "output" not in body


def test_child_span_records_its_parent(exporter):
    @trace(name="child")
    def child():
        return 1

    with span("parent"):
        child()
    parent, kid = finished(exporter, "parent"), finished(exporter, "child")
    assert span_to_log(kid).body["metadata"]["parent_span_id"] == f"{parent.context.span_id:016x}"
    assert is_root(parent)
    assert not is_root(kid)


def test_spans_without_dataset_content_are_skipped(exporter, tracer):
    with propagate(session_id="s"), tracer.start_as_current_span("GET /health") as http:
        http.set_attribute("http.request.method", "GET")
    with tracer.start_as_current_span("SELECT") as db:
        db.set_attribute("db.system", "postgresql")
    assert span_to_log(finished(exporter, "GET /health")) is None
    assert span_to_log(finished(exporter, "SELECT")) is None


def test_capture_off_still_gives_a_log_with_an_empty_input(exporter):
    @trace(name="quiet", capture_input=False, capture_output=False)
    def quiet(x):
        return x

    quiet(1)
    body = span_to_log(finished(exporter, "quiet")).body
    assert body["input"] == "", "the API requires input and refuses null"
    assert "output" not in body


def test_genai_semantic_conventions(exporter, tracer):
    with tracer.start_as_current_span("chat gpt-4o") as s:
        s.set_attributes(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.response.model": "gpt-4o-2024-08-06",
                "gen_ai.usage.input_tokens": 20,
                "gen_ai.usage.output_tokens": 5,
                "gen_ai.conversation.id": "conv-1",
                "gen_ai.input.messages": json.dumps(
                    [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]
                ),
                "gen_ai.output.messages": json.dumps(
                    [{"role": "assistant", "parts": [{"type": "text", "content": "hello"}]}]
                ),
            }
        )
    body = span_to_log(finished(exporter, "chat gpt-4o")).body
    assert body["input"] == {"messages": [{"role": "user", "content": "hi"}]}
    assert body["output"] == {"role": "assistant", "content": "hello"}
    assert body["metadata"]["model"] == "gpt-4o-2024-08-06"
    assert body["metadata"]["provider"] == "openai"
    assert body["metadata"]["log_type"] == "llm"
    assert body["metadata"]["session_id"] == "conv-1"
    assert body["metrics"]["prompt_tokens"] == 20
    assert body["metrics"]["completion_tokens"] == 5
    assert body["metrics"]["total_tokens"] == 25


def test_legacy_genai_flattened_prompt_and_completion(exporter, tracer):
    with tracer.start_as_current_span("openai.chat") as s:
        s.set_attributes(
            {
                "gen_ai.system": "openai",
                "gen_ai.request.model": "gpt-3.5-turbo",
                "gen_ai.prompt.0.role": "system",
                "gen_ai.prompt.0.content": "be brief",
                "gen_ai.prompt.1.role": "user",
                "gen_ai.prompt.1.content": "hi",
                "gen_ai.completion.0.role": "assistant",
                "gen_ai.completion.0.content": "hello",
                "gen_ai.usage.prompt_tokens": 7,
                "gen_ai.usage.completion_tokens": 2,
                "llm.usage.total_tokens": 9,
                "llm.request.type": "chat",
            }
        )
    body = span_to_log(finished(exporter, "openai.chat")).body
    assert body["input"] == {
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hi"},
        ]
    }
    assert body["output"] == {"role": "assistant", "content": "hello"}
    assert body["metrics"]["prompt_tokens"] == 7
    assert body["metrics"]["total_tokens"] == 9
    assert body["metadata"]["provider"] == "openai"


def test_openinference_conventions(exporter, tracer):
    with tracer.start_as_current_span("ChatOpenAI") as s:
        s.set_attributes(
            {
                "openinference.span.kind": "LLM",
                "input.value": json.dumps({"question": "q", "api_key": "sk-live"}),
                "input.mime_type": "application/json",
                "output.value": "plain answer",
                "output.mime_type": "text/plain",
                "llm.model_name": "claude-x",
                "llm.provider": "anthropic",
                "llm.token_count.prompt": 3,
                "llm.token_count.completion": 4,
                "llm.token_count.total": 7,
                "llm.cost.total": 0.5,
                "session.id": "oi-session",
                "user.id": "oi-user",
                "metadata": json.dumps({"experiment": "e1"}),
            }
        )
    body = span_to_log(finished(exporter, "ChatOpenAI"), redactor=get_redactor(("api_key",))).body
    assert body["input"] == {"question": "q", "api_key": "[REDACTED]"}
    assert body["output"] == "plain answer"
    assert body["metadata"]["log_type"] == "llm"
    assert body["metadata"]["model"] == "claude-x"
    assert body["metadata"]["experiment"] == "e1"
    assert body["metadata"]["session_id"] == "oi-session"
    assert body["metadata"]["customer_identifier"] == "oi-user"
    assert body["metrics"] == {
        "latency": body["metrics"]["latency"],
        "prompt_tokens": 3,
        "completion_tokens": 4,
        "total_tokens": 7,
        "cost": 0.5,
    }


def test_openinference_flattened_messages(exporter, tracer):
    with tracer.start_as_current_span("llm") as s:
        s.set_attributes(
            {
                "openinference.span.kind": "LLM",
                "llm.input_messages.0.message.role": "user",
                "llm.input_messages.0.message.content": "hi",
                "llm.output_messages.0.message.role": "assistant",
                "llm.output_messages.0.message.content": "yo",
            }
        )
    body = span_to_log(finished(exporter, "llm")).body
    assert body["input"] == {"messages": [{"role": "user", "content": "hi"}]}
    assert body["output"] == {"role": "assistant", "content": "yo"}


def test_traceloop_conventions(exporter, tracer):
    with tracer.start_as_current_span("plan.workflow") as s:
        s.set_attributes(
            {
                "traceloop.span.kind": "workflow",
                "traceloop.entity.input": json.dumps({"args": ["x"], "kwargs": {}}),
                "traceloop.entity.output": json.dumps("done"),
                "traceloop.association.properties.session_id": "tl-session",
                "traceloop.association.properties.team": "search",
            }
        )
    body = span_to_log(finished(exporter, "plan.workflow")).body
    assert body["input"] == "x"  # the decorator envelope {"args": ["x"], "kwargs": {}}
    assert body["output"] == "done"
    assert body["metadata"]["log_type"] == "workflow"
    assert body["metadata"]["session_id"] == "tl-session"
    assert body["metadata"]["team"] == "search"


def test_our_attributes_win_over_foreign_ones(exporter, tracer):
    from respan_otel import update_current_span

    with tracer.start_as_current_span("mixed") as s:
        s.set_attributes({"input.value": "foreign in", "gen_ai.usage.input_tokens": 1})
        update_current_span(input={"ours": True}, metrics={"prompt_tokens": 99})
    body = span_to_log(finished(exporter, "mixed")).body
    assert body["input"] == {"ours": True}
    assert body["metrics"]["prompt_tokens"] == 99


def test_error_status_from_a_foreign_span(exporter, tracer):
    with tracer.start_as_current_span("tool call") as s:
        s.set_attribute("traceloop.span.kind", "tool")
        s.set_status(Status(StatusCode.ERROR, "timeout talking to API"))
    body = span_to_log(finished(exporter, "tool call")).body
    assert body["status_code"] == 500
    assert body["error_message"] == "timeout talking to API"


def test_non_finite_metrics_are_dropped(exporter):
    with span("weird", metrics={"score": float("nan"), "ok": 1.5}):
        pass
    metrics = span_to_log(finished(exporter, "weird")).body["metrics"]
    assert "score" not in metrics
    assert metrics["ok"] == 1.5
