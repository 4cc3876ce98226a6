"""An app with no respan-otel setup code, run under ``opentelemetry-instrument``."""

from __future__ import annotations

from opentelemetry import trace as otel_trace

from respan_otel import propagate, trace

tracer = otel_trace.get_tracer("launcher.app")


@trace(kind="workflow")
def handle(question: str) -> str:
    with tracer.start_as_current_span("llm call") as llm:
        llm.set_attribute("gen_ai.operation.name", "chat")
        llm.set_attribute("gen_ai.request.model", "stub-model")
    return question[::-1]


with propagate(session_id="launcher-session"):
    for word in ("alpha", "beta"):
        handle(word)
