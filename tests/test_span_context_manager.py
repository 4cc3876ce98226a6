"""``span()``: a sync and async context manager around one span, and its handle.

Every entry opens its own span, so one ``span(...)`` object can be re-entered, reused, and
entered by several asyncio tasks at once without their spans or tokens crossing.
"""

from __future__ import annotations

import asyncio
import json
import traceback
from typing import Any

import pytest
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from respan_otel import RespanSpan, propagate, span, trace, update_current_span
from tests.conftest import by_name


class BoomError(Exception):
    pass


BOOM_TYPE = f"{BoomError.__module__}.{BoomError.__qualname__}"


pytestmark = pytest.mark.usefixtures("no_context_errors")


def parent_id(s: ReadableSpan) -> int | None:
    return s.parent.span_id if s.parent is not None else None


def span_id(s: ReadableSpan) -> int:
    return s.context.span_id


def json_attr(s: ReadableSpan, key: str) -> Any:
    return json.loads(s.attributes[key])


# --- basics -----------------------------------------------------------------------------------


def test_sync_block_records_a_current_span_with_input_and_output(exporter, tracer):
    with tracer.start_as_current_span("outer") as outer:
        with span("retrieve", kind="retriever", input={"query": "q"}) as s:
            assert isinstance(s, RespanSpan)
            assert otel_trace.get_current_span() is s.span
            s.set_output(["doc1", "doc2"])
        assert otel_trace.get_current_span() is outer
    spans = exporter.get_finished_spans()
    retrieve = by_name(spans, "retrieve")
    assert parent_id(retrieve) == span_id(by_name(spans, "outer"))
    assert retrieve.attributes["respan.span.kind"] == "retriever"
    assert json_attr(retrieve, "respan.input") == {"query": "q"}
    assert json_attr(retrieve, "respan.output") == ["doc1", "doc2"]
    assert retrieve.status.status_code is StatusCode.UNSET


async def test_async_block_records_a_current_span(exporter):
    async with span("step", kind="tool", input="x") as s:
        await asyncio.sleep(0)
        assert otel_trace.get_current_span() is s.span
        s.set_output("y")
    assert otel_trace.get_current_span() is otel_trace.INVALID_SPAN
    step = by_name(exporter.get_finished_spans(), "step")
    assert step.attributes["respan.span.kind"] == "tool"
    assert json_attr(step, "respan.input") == "x"
    assert json_attr(step, "respan.output") == "y"


def test_defaults_kind_task_and_records_no_input_or_output(exporter):
    with span("plain"):
        pass
    attributes = by_name(exporter.get_finished_spans(), "plain").attributes
    assert "respan.span.kind" not in attributes  # the default is not written: see test_default_kind
    assert "respan.input" not in attributes
    assert "respan.output" not in attributes


def test_input_none_is_recorded_as_null(exporter):
    with span("nothing", input=None):
        pass
    assert by_name(exporter.get_finished_spans(), "nothing").attributes["respan.input"] == "null"


def test_spans_inside_the_block_are_children(exporter, tracer):
    @trace(name="call")
    def call() -> None:
        with tracer.start_as_current_span("foreign"):
            pass

    with span("block"):
        call()
    spans = exporter.get_finished_spans()
    block, c = by_name(spans, "block"), by_name(spans, "call")
    assert parent_id(c) == span_id(block)
    assert parent_id(by_name(spans, "foreign")) == span_id(c)


# --- handle setters ---------------------------------------------------------------------------


def test_set_input_replaces_the_given_input(exporter):
    with span("s", input="original") as s:
        s.set_input({"rewritten": True})
    assert json_attr(by_name(exporter.get_finished_spans(), "s"), "respan.input") == {
        "rewritten": True
    }


def test_setters_serialize_at_once(exporter):
    value = {"items": [1]}
    with span("s") as s:
        s.set_output(value)
        value["items"].append(2)
    assert json_attr(by_name(exporter.get_finished_spans(), "s"), "respan.output") == {"items": [1]}


def test_set_metadata_merges_with_earlier_and_propagated_metadata(exporter):
    with (
        propagate(metadata={"tenant": "acme", "env": "prod", "model": "base"}),
        span("s", metadata={"model": "call-site", "step": 1}) as s,
    ):
        s.set_metadata({"step": 2, "user": "u1"})
        s.set_metadata({"score": 0.5})
    assert json_attr(by_name(exporter.get_finished_spans(), "s"), "respan.metadata") == {
        "tenant": "acme",
        "env": "prod",
        "model": "call-site",
        "step": 2,
        "user": "u1",
        "score": 0.5,
    }


def test_set_metadata_without_call_site_metadata_keeps_the_propagated_keys(exporter):
    with propagate(metadata={"tenant": "acme"}), span("s") as s:
        s.set_metadata({"user": "u1"})
    assert json_attr(by_name(exporter.get_finished_spans(), "s"), "respan.metadata") == {
        "tenant": "acme",
        "user": "u1",
    }


def test_update_current_span_in_the_block_merges_with_the_handle(exporter):
    with span("s", metadata={"a": 1}) as s:
        s.set_metadata({"b": 2})
        update_current_span(metadata={"c": 3}, output="via update")
    attributes = by_name(exporter.get_finished_spans(), "s").attributes
    assert json.loads(attributes["respan.metadata"]) == {"a": 1, "b": 2, "c": 3}
    assert json.loads(attributes["respan.output"]) == "via update"


def test_set_metadata_refuses_a_non_mapping(exporter):
    with span("s") as s, pytest.raises(TypeError, match="metadata"):
        s.set_metadata(["not", "a", "mapping"])  # type: ignore[arg-type]


def test_set_metrics_become_numeric_attributes(exporter):
    with span("s", metrics={"latency_ms": 12.5}) as s:
        s.set_metrics({"prompt_tokens": 10, "cost": 0.0021, "skipped": None})
    attributes = by_name(exporter.get_finished_spans(), "s").attributes
    assert attributes["respan.metrics.latency_ms"] == 12.5
    assert attributes["respan.metrics.prompt_tokens"] == 10
    assert isinstance(attributes["respan.metrics.prompt_tokens"], int)
    assert attributes["respan.metrics.cost"] == 0.0021
    assert "respan.metrics.skipped" not in attributes


def test_set_metrics_refuses_a_bool_naming_the_metric(exporter):
    with span("s") as s, pytest.raises(TypeError, match="'passed'"):
        s.set_metrics({"passed": True})


def test_set_metrics_refuses_a_non_numeric_str_naming_the_metric(exporter):
    with span("s") as s, pytest.raises(TypeError, match="'grade'"):
        s.set_metrics({"grade": "high"})


def test_set_metrics_refuses_a_numeric_str_naming_the_metric(exporter):
    with span("s") as s, pytest.raises(TypeError, match="'tokens'"):
        s.set_metrics({"tokens": "12"})


def test_set_metrics_refuses_non_str_names(exporter):
    with span("s") as s, pytest.raises(TypeError, match="str"):
        s.set_metrics({1: 2.0})  # type: ignore[dict-item]


# --- wrong arguments fail at call time --------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"name": "s", "kind": "bogus"}, ValueError, "bogus"),
        ({"name": "s", "metadata": ["a"]}, TypeError, "metadata"),
        ({"name": "s", "metadata": {1: "a"}}, TypeError, "metadata"),
        ({"name": 42}, TypeError, "name"),
        ({"name": ""}, TypeError, "name"),
        ({"name": "s", "metrics": [1]}, TypeError, "metrics"),
        ({"name": "s", "metrics": {"m": "lots"}}, TypeError, "'m'"),
        ({"name": "s", "metrics": {"flag": False}}, TypeError, "'flag'"),
        ({"name": "s", "dataset": ""}, TypeError, "dataset"),
    ],
    ids=[
        "bogus-kind",
        "metadata-list",
        "metadata-int-key",
        "name-int",
        "name-empty",
        "metrics-list",
        "metric-str",
        "metric-bool",
        "dataset-empty",
    ],
)
def test_wrong_arguments_are_refused_when_span_is_called(exporter, kwargs, error, message):
    with pytest.raises(error, match=message):
        span(**kwargs)  # not entered: the check is at call time
    assert exporter.get_finished_spans() == ()


# --- one object, many entries -----------------------------------------------------------------


def test_one_object_entered_twice_nested_makes_two_spans(exporter):
    block = span("reentrant", input="same")
    with block as outer:
        with block as inner:
            assert inner is not outer
            assert otel_trace.get_current_span() is inner.span
        assert otel_trace.get_current_span() is outer.span
        assert len(exporter.get_finished_spans()) == 1
    spans = [s for s in exporter.get_finished_spans() if s.name == "reentrant"]
    assert len(spans) == 2
    inner_span, outer_span = spans  # finished in that order
    assert parent_id(inner_span) == span_id(outer_span)
    assert outer_span.parent is None
    assert inner_span.end_time <= outer_span.end_time


def test_one_object_reused_in_sequence_makes_sibling_spans(exporter):
    block = span("again")
    with span("parent"):
        for _ in range(3):
            with block:
                pass
    spans = exporter.get_finished_spans()
    again = [s for s in spans if s.name == "again"]
    assert len(again) == 3
    assert len({span_id(s) for s in again}) == 3
    assert {parent_id(s) for s in again} == {span_id(by_name(spans, "parent"))}


def test_inner_failure_of_a_reentered_object_leaves_the_outer_entry_intact(exporter):
    block = span("reentrant")
    with block as outer:
        with pytest.raises(BoomError), block:
            raise BoomError("inner only")
        assert otel_trace.get_current_span() is outer.span
    inner_span, outer_span = (s for s in exporter.get_finished_spans() if s.name == "reentrant")
    assert inner_span.status.status_code is StatusCode.ERROR
    assert outer_span.status.status_code is StatusCode.UNSET


async def test_one_object_used_by_two_concurrent_tasks(exporter, tracer):
    shared = span("shared", kind="tool")
    inside = {"a": asyncio.Event(), "b": asyncio.Event()}
    seen: dict[str, Any] = {}

    async def run(label: str) -> None:
        with tracer.start_as_current_span(label):
            async with shared as handle:
                inside[label].set()
                for event in inside.values():  # both entries open at the same time
                    await event.wait()
                await asyncio.sleep(0)
                async with span(f"leaf-{label}"):
                    await asyncio.sleep(0)
                seen[label] = (handle, otel_trace.get_current_span())
            seen[f"{label}-after"] = otel_trace.get_current_span()

    await asyncio.gather(run("a"), run("b"))
    spans = exporter.get_finished_spans()
    shared_spans = [s for s in spans if s.name == "shared"]
    assert len(shared_spans) == 2
    for label in ("a", "b"):
        handle, current = seen[label]
        assert current is handle.span
        mine = [s for s in shared_spans if span_id(s) == handle.span.get_span_context().span_id]
        assert len(mine) == 1
        assert parent_id(mine[0]) == span_id(by_name(spans, label))
        assert parent_id(by_name(spans, f"leaf-{label}")) == span_id(mine[0])
        assert seen[f"{label}-after"].get_span_context().span_id == span_id(by_name(spans, label))


async def test_a_task_started_inside_the_block_can_enter_the_same_object(exporter):
    shared = span("shared")

    async def child() -> None:
        async with shared:
            await asyncio.sleep(0)

    async with shared as outer:
        task = asyncio.create_task(child())
        await asyncio.sleep(0)
        assert otel_trace.get_current_span() is outer.span
    await task
    spans = [s for s in exporter.get_finished_spans() if s.name == "shared"]
    assert len(spans) == 2
    outer_span = next(s for s in spans if span_id(s) == outer.span.get_span_context().span_id)
    inner_span = next(s for s in spans if s is not outer_span)
    assert parent_id(inner_span) == span_id(outer_span)


# --- exceptions -------------------------------------------------------------------------------


def test_an_exception_is_recorded_and_reraised_unchanged(exporter):
    error = BoomError("in the block")
    with pytest.raises(BoomError) as info, span("failing"):
        raise error
    assert info.value is error
    assert traceback.extract_tb(info.value.__traceback__)[-1].line == "raise error"
    s = by_name(exporter.get_finished_spans(), "failing")
    assert s.status.status_code is StatusCode.ERROR
    assert "in the block" in (s.status.description or "")
    assert s.attributes["error.type"] == BOOM_TYPE
    assert "respan.end_reason" not in s.attributes
    [event] = s.events
    assert event.name == "exception"
    assert event.attributes["exception.message"] == "in the block"


async def test_an_exception_in_an_async_block_is_recorded_and_reraised(exporter):
    error = BoomError("async block")

    async def body() -> None:
        async with span("failing"):
            await asyncio.sleep(0)
            raise error

    with pytest.raises(BoomError) as info:
        await body()
    assert info.value is error
    s = by_name(exporter.get_finished_spans(), "failing")
    assert s.status.status_code is StatusCode.ERROR
    assert s.attributes["error.type"] == BOOM_TYPE


def test_keyboard_interrupt_is_recorded_as_interrupted(exporter):
    with pytest.raises(KeyboardInterrupt), span("interrupted"):
        raise KeyboardInterrupt
    s = by_name(exporter.get_finished_spans(), "interrupted")
    assert s.status.status_code is StatusCode.ERROR
    assert s.attributes["respan.end_reason"] == "interrupted"


async def test_cancellation_inside_an_async_block(exporter):
    started = asyncio.Event()

    async def body() -> None:
        async with span("cancelled"):
            started.set()
            await asyncio.sleep(10)

    task = asyncio.create_task(body())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()
    s = by_name(exporter.get_finished_spans(), "cancelled")
    assert s.status.status_code is StatusCode.ERROR
    assert s.attributes["respan.end_reason"] == "cancelled"
    assert s.attributes["error.type"] == "asyncio.exceptions.CancelledError"
