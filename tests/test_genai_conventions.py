"""Spans written with OpenInference's and Traceloop's conventions become the right logs.

Attribute names come from the conventions' own packages
(``openinference-semantic-conventions``, ``opentelemetry-semantic-conventions-ai``), never
from string literals here, so a rename upstream fails these tests instead of silently
mapping nothing. Kind tables are checked against the packages' enums, so a kind added
upstream fails until the mapping decides what it is.

The tests near the end pinned mapping gaps found while writing them (Traceloop LLM
request types, OpenInference tool calls, multi-part text, newer model names, total
tokens); the mapping now covers them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from openinference.semconv.trace import (
    MessageAttributes,
    MessageContentAttributes,
    OpenInferenceLLMProviderValues,
    OpenInferenceMimeTypeValues,
    OpenInferenceSpanKindValues,
    ToolCallAttributes,
)
from openinference.semconv.trace import SpanAttributes as OIAttr
from opentelemetry.semconv_ai import GenAISystem, LLMRequestTypeValues, TraceloopSpanKindValues
from opentelemetry.semconv_ai import SpanAttributes as TLAttr
from opentelemetry.trace import Status, StatusCode

from respan_otel import propagate
from respan_otel._export._mapping import NO_INPUT, span_to_log
from respan_otel._redact import get_redactor
from tests.conftest import by_name

JSON = OpenInferenceMimeTypeValues.JSON.value
TEXT = OpenInferenceMimeTypeValues.TEXT.value


def body_of(exporter, tracer, name: str, attributes: dict[str, Any], **options: Any) -> dict:
    """Record one span of another instrumentation and map it; it must become a log."""
    with tracer.start_as_current_span(name) as span:
        span.set_attributes(attributes)
    mapped = span_to_log(by_name(exporter.get_finished_spans(), name), **options)
    assert mapped is not None, f"{name} did not become a log"
    return mapped.body


def without_latency(metrics: dict[str, Any]) -> dict[str, Any]:
    assert metrics["latency"] >= 0
    return {key: value for key, value in metrics.items() if key != "latency"}


def oi_messages(prefix: str, messages: list[tuple[str, str]]) -> dict[str, str]:
    """OpenInference's flattened ``llm.input_messages.{i}.message.role``-style attributes."""
    flat = {}
    for index, (role, content) in enumerate(messages):
        flat[f"{prefix}.{index}.{MessageAttributes.MESSAGE_ROLE}"] = role
        flat[f"{prefix}.{index}.{MessageAttributes.MESSAGE_CONTENT}"] = content
    return flat


def tl_messages(prefix: str, messages: list[tuple[str, str]]) -> dict[str, str]:
    """Traceloop's flattened ``gen_ai.prompt.{i}.role``-style attributes."""
    flat = {}
    for index, (role, content) in enumerate(messages):
        flat[f"{prefix}.{index}.role"] = role
        flat[f"{prefix}.{index}.content"] = content
    return flat


# -- OpenInference ------------------------------------------------------------------------


def test_openinference_llm_span(exporter, tracer):
    request = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "Capital of France?"}],
        "api_key": "sk-live-123",
    }
    body = body_of(
        exporter,
        tracer,
        "ChatCompletion",
        {
            OIAttr.OPENINFERENCE_SPAN_KIND: OpenInferenceSpanKindValues.LLM.value,
            OIAttr.INPUT_VALUE: json.dumps(request),
            OIAttr.INPUT_MIME_TYPE: JSON,
            OIAttr.OUTPUT_VALUE: "Paris.",
            OIAttr.OUTPUT_MIME_TYPE: TEXT,
            OIAttr.LLM_MODEL_NAME: "gpt-4o-2024-08-06",
            OIAttr.LLM_PROVIDER: OpenInferenceLLMProviderValues.OPENAI.value,
            OIAttr.LLM_INVOCATION_PARAMETERS: json.dumps({"temperature": 0}),
            OIAttr.LLM_TOKEN_COUNT_PROMPT: 12,
            OIAttr.LLM_TOKEN_COUNT_COMPLETION: 2,
            OIAttr.LLM_TOKEN_COUNT_TOTAL: 14,
            OIAttr.LLM_COST_TOTAL: 0.00042,
            OIAttr.SESSION_ID: "oi-session-1",
            OIAttr.USER_ID: "oi-user-7",
            OIAttr.METADATA: json.dumps({"experiment": "capitals", "run": 3}),
            OIAttr.TAG_TAGS: ["geo", "smoke"],
        },
        redactor=get_redactor(("api_key",)),
    )
    assert body["input"] == {**request, "api_key": "[REDACTED]"}
    assert body["output"] == "Paris."
    metadata = body["metadata"]
    assert {key: metadata.get(key) for key in ("experiment", "run")} == {
        "experiment": "capitals",
        "run": 3,
    }
    assert metadata["log_type"] == "llm"
    assert metadata["model"] == "gpt-4o-2024-08-06"
    assert metadata["provider"] == "openai"
    assert metadata["session_id"] == "oi-session-1"
    assert metadata["customer_identifier"] == "oi-user-7"
    assert without_latency(body["metrics"]) == {
        "prompt_tokens": 12,
        "completion_tokens": 2,
        "total_tokens": 14,
        "cost": 0.00042,
    }
    assert body["status_code"] == 200


def test_openinference_mime_types_decide_what_is_parsed(exporter, tracer):
    body = body_of(
        exporter,
        tracer,
        "chain",
        {
            OIAttr.OPENINFERENCE_SPAN_KIND: OpenInferenceSpanKindValues.CHAIN.value,
            OIAttr.INPUT_VALUE: '{"looks": "like json"}',
            OIAttr.INPUT_MIME_TYPE: TEXT,
            OIAttr.OUTPUT_VALUE: '[{"answer": 42}]',
            OIAttr.OUTPUT_MIME_TYPE: JSON,
        },
    )
    assert body["input"] == '{"looks": "like json"}', "text/plain stays text"
    assert body["output"] == [{"answer": 42}], "application/json is parsed"
    assert body["metadata"]["log_type"] == "workflow"


def test_openinference_values_without_a_mime_type(exporter, tracer):
    body = body_of(
        exporter,
        tracer,
        "tool",
        {
            OIAttr.OPENINFERENCE_SPAN_KIND: OpenInferenceSpanKindValues.TOOL.value,
            OIAttr.TOOL_NAME: "lookup",
            OIAttr.INPUT_VALUE: '{"city": "Paris"}',
            OIAttr.OUTPUT_VALUE: "sunny, 24 C",
        },
    )
    assert body["input"] == {"city": "Paris"}
    assert body["output"] == "sunny, 24 C"
    assert body["metadata"]["log_type"] == "tool"


def test_openinference_flattened_messages_in_index_order(exporter, tracer):
    conversation = [("system", "Be brief.")] + [
        ("user" if turn % 2 else "assistant", f"turn {turn}") for turn in range(1, 12)
    ]
    body = body_of(
        exporter,
        tracer,
        "llm",
        {
            OIAttr.OPENINFERENCE_SPAN_KIND: OpenInferenceSpanKindValues.LLM.value,
            **oi_messages(OIAttr.LLM_INPUT_MESSAGES, conversation),
            **oi_messages(OIAttr.LLM_OUTPUT_MESSAGES, [("assistant", "turn 12")]),
            OIAttr.LLM_TOKEN_COUNT_PROMPT: 40,
            OIAttr.LLM_TOKEN_COUNT_COMPLETION: 3,
        },
    )
    assert len(conversation) == 12, "indexes 10 and 11 must sort after 9, not after 1"
    assert body["input"] == {
        "messages": [{"role": role, "content": content} for role, content in conversation]
    }
    assert body["output"] == {"role": "assistant", "content": "turn 12"}
    assert without_latency(body["metrics"]) == {
        "prompt_tokens": 40,
        "completion_tokens": 3,
        "total_tokens": 43,
    }


def test_flattened_messages_win_over_the_openinference_value_blob(exporter, tracer):
    body = body_of(
        exporter,
        tracer,
        "llm",
        {
            OIAttr.OPENINFERENCE_SPAN_KIND: OpenInferenceSpanKindValues.LLM.value,
            OIAttr.INPUT_VALUE: json.dumps({"messages": [{"lc": 1, "type": "constructor"}]}),
            OIAttr.INPUT_MIME_TYPE: JSON,
            **oi_messages(OIAttr.LLM_INPUT_MESSAGES, [("user", "hi")]),
            **oi_messages(OIAttr.LLM_OUTPUT_MESSAGES, [("assistant", "hello")]),
        },
    )
    assert body["input"] == {"messages": [{"role": "user", "content": "hi"}]}
    assert body["output"] == {"role": "assistant", "content": "hello"}


def test_propagated_ids_win_over_openinference_ones(exporter, tracer):
    with propagate(session_id="ours", customer_identifier="our-user"):
        body = body_of(
            exporter,
            tracer,
            "agent",
            {
                OIAttr.OPENINFERENCE_SPAN_KIND: OpenInferenceSpanKindValues.AGENT.value,
                OIAttr.INPUT_VALUE: "plan a trip",
                OIAttr.SESSION_ID: "theirs",
                OIAttr.USER_ID: "their-user",
            },
        )
    assert body["metadata"]["session_id"] == "ours"
    assert body["metadata"]["customer_identifier"] == "our-user"
    assert body["metadata"]["log_type"] == "agent"


OPENINFERENCE_LOG_TYPES = {
    OpenInferenceSpanKindValues.LLM: "llm",
    OpenInferenceSpanKindValues.CHAIN: "workflow",
    OpenInferenceSpanKindValues.AGENT: "agent",
    OpenInferenceSpanKindValues.TOOL: "tool",
    OpenInferenceSpanKindValues.RETRIEVER: "retriever",
    OpenInferenceSpanKindValues.RERANKER: "retriever",
    OpenInferenceSpanKindValues.EMBEDDING: "embedding",
    OpenInferenceSpanKindValues.GUARDRAIL: "guardrail",
    OpenInferenceSpanKindValues.EVALUATOR: "evaluator",
    OpenInferenceSpanKindValues.PROMPT: "custom",
    OpenInferenceSpanKindValues.DECISION: "custom",
    OpenInferenceSpanKindValues.UNKNOWN: "custom",
}


def test_every_openinference_kind_has_a_decided_log_type():
    assert set(OPENINFERENCE_LOG_TYPES) == set(OpenInferenceSpanKindValues)


@pytest.mark.parametrize(("kind", "log_type"), OPENINFERENCE_LOG_TYPES.items(), ids=str)
def test_openinference_kind_to_log_type(exporter, tracer, kind, log_type):
    body = body_of(
        exporter,
        tracer,
        f"oi {kind.value}",
        {OIAttr.OPENINFERENCE_SPAN_KIND: kind.value, OIAttr.INPUT_VALUE: "x"},
    )
    assert body["metadata"]["log_type"] == log_type


# -- Traceloop / OpenLLMetry --------------------------------------------------------------


def test_traceloop_workflow_span(exporter, tracer):
    association = f"{TLAttr.TRACELOOP_ASSOCIATION_PROPERTIES}."
    body = body_of(
        exporter,
        tracer,
        "answer_question.workflow",
        {
            TLAttr.TRACELOOP_SPAN_KIND: TraceloopSpanKindValues.WORKFLOW.value,
            TLAttr.TRACELOOP_WORKFLOW_NAME: "answer_question",
            TLAttr.TRACELOOP_ENTITY_NAME: "answer_question",
            TLAttr.TRACELOOP_ENTITY_INPUT: json.dumps(
                {"args": ["Capital of France?"], "kwargs": {"lang": "en"}}
            ),
            TLAttr.TRACELOOP_ENTITY_OUTPUT: json.dumps({"answer": "Paris", "sources": 2}),
            association + "session_id": "tl-session-9",
            association + "user_id": "tl-user-4",
            association + "team": "search",
        },
    )
    assert body["input"] == {"args": ["Capital of France?"], "kwargs": {"lang": "en"}}
    assert body["output"] == {"answer": "Paris", "sources": 2}
    metadata = body["metadata"]
    assert metadata["log_type"] == "workflow"
    assert metadata["session_id"] == "tl-session-9"
    assert metadata["customer_identifier"] == "tl-user-4"
    assert metadata["user_id"] == "tl-user-4"
    assert metadata["team"] == "search"
    assert metadata["span_name"] == "answer_question.workflow"
    assert "model" not in metadata


def test_traceloop_task_output_that_is_not_json_stays_text(exporter, tracer):
    body = body_of(
        exporter,
        tracer,
        "summarise.task",
        {
            TLAttr.TRACELOOP_SPAN_KIND: TraceloopSpanKindValues.TASK.value,
            TLAttr.TRACELOOP_ENTITY_INPUT: json.dumps({"args": [], "kwargs": {"text": "long"}}),
            TLAttr.TRACELOOP_ENTITY_OUTPUT: "not json: a summary",
        },
    )
    assert body["input"] == {"text": "long"}  # the decorator's args/kwargs envelope, opened
    assert body["output"] == "not json: a summary"
    assert body["metadata"]["log_type"] == "task"


def test_traceloop_failed_tool_span(exporter, tracer):
    with tracer.start_as_current_span("search_web.tool") as span:
        span.set_attributes(
            {
                TLAttr.TRACELOOP_SPAN_KIND: TraceloopSpanKindValues.TOOL.value,
                TLAttr.TRACELOOP_ENTITY_INPUT: json.dumps({"args": ["otel"], "kwargs": {}}),
            }
        )
        span.record_exception(TimeoutError("search backend timed out"))
        span.set_status(Status(StatusCode.ERROR))
    body = span_to_log(by_name(exporter.get_finished_spans(), "search_web.tool")).body
    assert body["status_code"] == 500
    assert body["error_message"] == "search backend timed out"
    assert body["metadata"]["error_type"] == "TimeoutError"
    assert body["metadata"]["log_type"] == "tool"
    assert "output" not in body


TRACELOOP_LOG_TYPES = {
    TraceloopSpanKindValues.WORKFLOW: "workflow",
    TraceloopSpanKindValues.TASK: "task",
    TraceloopSpanKindValues.AGENT: "agent",
    TraceloopSpanKindValues.TOOL: "tool",
    TraceloopSpanKindValues.UNKNOWN: "custom",
}


def test_every_traceloop_kind_has_a_decided_log_type():
    assert set(TRACELOOP_LOG_TYPES) == set(TraceloopSpanKindValues)


@pytest.mark.parametrize(("kind", "log_type"), TRACELOOP_LOG_TYPES.items(), ids=str)
def test_traceloop_kind_to_log_type(exporter, tracer, kind, log_type):
    body = body_of(
        exporter,
        tracer,
        f"x.{kind.value}",
        {TLAttr.TRACELOOP_SPAN_KIND: kind.value, TLAttr.TRACELOOP_ENTITY_INPUT: "{}"},
    )
    assert body["metadata"]["log_type"] == log_type


def traceloop_llm_attributes(request_type: LLMRequestTypeValues) -> dict[str, Any]:
    """An LLM span as OpenLLMetry's instrumentations write it (legacy flattened names)."""
    return {
        TLAttr.LLM_REQUEST_TYPE: request_type.value,
        TLAttr.LLM_SYSTEM: GenAISystem.OPENAI.value,
        TLAttr.LLM_REQUEST_MODEL: "gpt-4o-mini",
        TLAttr.LLM_RESPONSE_MODEL: "gpt-4o-mini-2024-07-18",
        TLAttr.LLM_REQUEST_TEMPERATURE: 0.0,
        **tl_messages(
            TLAttr.LLM_PROMPTS, [("system", "Be brief."), ("user", "Capital of France?")]
        ),
        **tl_messages(TLAttr.LLM_COMPLETIONS, [("assistant", "Paris.")]),
        TLAttr.LLM_USAGE_PROMPT_TOKENS: 18,
        TLAttr.LLM_USAGE_COMPLETION_TOKENS: 2,
        TLAttr.LLM_USAGE_TOTAL_TOKENS: 20,
    }


def test_traceloop_llm_span_flattened_prompts_and_completions(exporter, tracer):
    body = body_of(
        exporter, tracer, "openai.chat", traceloop_llm_attributes(LLMRequestTypeValues.CHAT)
    )
    assert body["input"] == {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Capital of France?"},
        ]
    }
    assert body["output"] == {"role": "assistant", "content": "Paris."}
    assert body["metadata"]["model"] == "gpt-4o-mini-2024-07-18"
    assert body["metadata"]["provider"] == "openai"
    assert without_latency(body["metrics"]) == {
        "prompt_tokens": 18,
        "completion_tokens": 2,
        "total_tokens": 20,
    }


# -- Gaps ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_type", "log_type"),
    [
        (LLMRequestTypeValues.CHAT, "llm"),
        (LLMRequestTypeValues.COMPLETION, "llm"),
        (LLMRequestTypeValues.EMBEDDING, "embedding"),
    ],
    ids=str,
)
def test_traceloop_llm_span_log_type(exporter, tracer, request_type, log_type):
    body = body_of(exporter, tracer, "openai.request", traceloop_llm_attributes(request_type))
    assert body["metadata"]["log_type"] == log_type


def test_traceloop_llm_span_without_content_is_still_a_log(exporter, tracer):
    attributes = {
        key: value
        for key, value in traceloop_llm_attributes(LLMRequestTypeValues.CHAT).items()
        if not key.startswith((f"{TLAttr.LLM_PROMPTS}.", f"{TLAttr.LLM_COMPLETIONS}."))
    }
    body = body_of(exporter, tracer, "openai.chat", attributes)
    assert body["input"] == NO_INPUT
    assert body["metadata"].get("model") == "gpt-4o-mini-2024-07-18"
    assert body["metrics"].get("total_tokens") == 20


def test_openinference_flattened_tool_calls_are_kept(exporter, tracer):
    call = f"{OIAttr.LLM_OUTPUT_MESSAGES}.0.{MessageAttributes.MESSAGE_TOOL_CALLS}.0."
    body = body_of(
        exporter,
        tracer,
        "llm",
        {
            OIAttr.OPENINFERENCE_SPAN_KIND: OpenInferenceSpanKindValues.LLM.value,
            **oi_messages(OIAttr.LLM_INPUT_MESSAGES, [("user", "Weather in Paris?")]),
            f"{OIAttr.LLM_OUTPUT_MESSAGES}.0.{MessageAttributes.MESSAGE_ROLE}": "assistant",
            call + ToolCallAttributes.TOOL_CALL_ID: "call_1",
            call + ToolCallAttributes.TOOL_CALL_FUNCTION_NAME: "get_weather",
            call + ToolCallAttributes.TOOL_CALL_FUNCTION_ARGUMENTS_JSON: '{"city": "Paris"}',
        },
    )
    output = json.dumps(body["output"])
    assert "get_weather" in output
    assert "Paris" in output


def test_openinference_multipart_message_text_is_kept(exporter, tracer):
    part = f"{OIAttr.LLM_INPUT_MESSAGES}.0.{MessageAttributes.MESSAGE_CONTENTS}.0."
    body = body_of(
        exporter,
        tracer,
        "llm",
        {
            OIAttr.OPENINFERENCE_SPAN_KIND: OpenInferenceSpanKindValues.LLM.value,
            f"{OIAttr.LLM_INPUT_MESSAGES}.0.{MessageAttributes.MESSAGE_ROLE}": "user",
            part + MessageContentAttributes.MESSAGE_CONTENT_TYPE: "text",
            part + MessageContentAttributes.MESSAGE_CONTENT_TEXT: "Describe this picture.",
        },
    )
    assert "Describe this picture." in json.dumps(body["input"])


def test_openinference_response_model_name(exporter, tracer):
    body = body_of(
        exporter,
        tracer,
        "llm",
        {
            OIAttr.OPENINFERENCE_SPAN_KIND: OpenInferenceSpanKindValues.LLM.value,
            OIAttr.INPUT_VALUE: "hi",
            OIAttr.LLM_REQUEST_MODEL_NAME: "gpt-4o",
            OIAttr.LLM_RESPONSE_MODEL_NAME: "gpt-4o-2024-08-06",
        },
    )
    assert body["metadata"].get("model") == "gpt-4o-2024-08-06"


def test_traceloop_gen_ai_total_tokens(exporter, tracer):
    body = body_of(
        exporter,
        tracer,
        "openai.embeddings",
        {
            TLAttr.TRACELOOP_SPAN_KIND: TraceloopSpanKindValues.TASK.value,
            TLAttr.TRACELOOP_ENTITY_INPUT: json.dumps({"args": ["a text"], "kwargs": {}}),
            TLAttr.LLM_USAGE_PROMPT_TOKENS: 8,
            TLAttr.GEN_AI_USAGE_TOTAL_TOKENS: 8,
        },
    )
    assert body["metrics"]["prompt_tokens"] == 8
    assert body["metrics"].get("total_tokens") == 8
