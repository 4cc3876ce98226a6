"""Issue 10, item 8: a run stays in one dataset. ``dataset=`` on ``@trace``/``span()``
applies to every span started inside it, other instrumentations' included."""

from __future__ import annotations

from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from respan_otel import propagate, span, trace
from tests.conftest import by_name

DATASET = "respan.dataset"  # the attribute the mapping reads (_attributes.DATASET)


def datasets(exporter: InMemorySpanExporter) -> dict[str, object]:
    return {s.name: (s.attributes or {}).get(DATASET) for s in exporter.get_finished_spans()}


def test_inner_spans_and_foreign_spans_follow_the_outer_dataset(
    exporter: InMemorySpanExporter, tracer: otel_trace.Tracer
) -> None:
    @trace(name="step")
    def step() -> None:
        with tracer.start_as_current_span("llm-call"):
            pass

    @trace(name="run", kind="workflow", dataset="support-qa")
    def run() -> None:
        step()
        with span("block"), propagate(session_id="s1"), tracer.start_as_current_span("retriever"):
            pass

    run()
    assert datasets(exporter) == {
        "llm-call": "support-qa",
        "step": "support-qa",
        "retriever": "support-qa",
        "block": "support-qa",
        "run": "support-qa",
    }
    assert (
        by_name(exporter.get_finished_spans(), "retriever").attributes["respan.session_id"] == "s1"
    )


def test_an_inner_dataset_wins_for_its_own_subtree(
    exporter: InMemorySpanExporter, tracer: otel_trace.Tracer
) -> None:
    with span("outer", dataset="a"):
        with span("inner", dataset="b"), tracer.start_as_current_span("inside-b"):
            pass
        with tracer.start_as_current_span("inside-a"):
            pass
    assert datasets(exporter) == {"inside-b": "b", "inner": "b", "inside-a": "a", "outer": "a"}


def test_no_dataset_outside(exporter: InMemorySpanExporter, tracer: otel_trace.Tracer) -> None:
    with span("outer", dataset="a"):
        pass
    with tracer.start_as_current_span("after"):
        pass
    assert datasets(exporter) == {"outer": "a", "after": None}
