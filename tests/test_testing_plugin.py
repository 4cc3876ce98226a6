"""respan_otel.testing: the respan_logs fixture, in-process and as an installed plugin."""

from __future__ import annotations

import pytest

from respan_otel import propagate, span, trace
from respan_otel.testing import InMemoryDatasetExporter

pytest_plugins = ["pytester"]


def test_the_fixture_captures_the_logs_a_test_produces(respan_logs):
    @trace(kind="workflow", dataset="qa")
    def answer(question: str) -> str:
        with span("lookup", kind="retriever"):
            pass
        return "42"

    with propagate(session_id="s"):
        answer("why?")
    assert len(respan_logs) == 2
    (log,) = respan_logs.by_span_name(answer.__qualname__)
    assert log["input"] == {"question": "why?"}
    assert log["output"] == "42"
    assert log["metadata"]["session_id"] == "s"
    assert respan_logs.for_dataset("qa") == respan_logs.logs  # inner spans follow the run
    assert respan_logs.for_dataset(None) == []


def test_nothing_leaks_between_tests(respan_logs):
    assert respan_logs.logs == []


def test_foreign_spans_without_content_are_not_logs(respan_logs, tracer):
    with tracer.start_as_current_span("GET /health"):
        pass
    assert respan_logs.logs == []


def test_the_exporter_applies_before_send_and_root_filter():
    dropped_children = InMemoryDatasetExporter(only_root_spans=True)
    masked = InMemoryDatasetExporter(before_send=lambda body: {**body, "output": "***"})
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    from tests.conftest import _ROUTER

    processors = [SimpleSpanProcessor(dropped_children), SimpleSpanProcessor(masked)]
    for processor in processors:
        _ROUTER.add(processor)
    try:
        with span("root") as root, span("child"):
            root.set_output("secret")
    finally:
        for processor in processors:
            _ROUTER.remove(processor)
    assert [log["metadata"]["span_name"] for log in dropped_children.captured] == ["root"]
    assert {log["output"] for log in masked.captured if "output" in log} == {"***"}


def test_the_plugin_is_registered_for_other_projects(pytester: pytest.Pytester):
    pytester.makepyfile(
        test_user_app="""
        from respan_otel import trace

        @trace(kind="llm")
        def classify(text):
            return "positive"

        def test_classification_is_logged(respan_logs):
            classify("great product")
            (log,) = respan_logs.logs
            assert log["input"] == {"text": "great product"}
            assert log["metadata"]["log_type"] == "llm"
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
