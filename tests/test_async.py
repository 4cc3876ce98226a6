"""@trace on coroutine functions and on sync callables that return awaitables.

The span covers the awaited work, not just the call; cancellation is recorded as an
unfinished run (status ERROR, ``respan.end_reason = "cancelled"``) and still propagates.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
import traceback
from typing import Any

import pytest
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from respan_otel import span, trace
from tests.conftest import by_name, log_problems


class BoomError(Exception):
    pass


BOOM_TYPE = f"{BoomError.__module__}.{BoomError.__qualname__}"
CANCELLED_TYPE = "asyncio.exceptions.CancelledError"


pytestmark = pytest.mark.usefixtures("no_context_errors")


def output_of(s: ReadableSpan) -> Any:
    return json.loads(s.attributes["respan.output"])


def parent_id(s: ReadableSpan) -> int | None:
    return s.parent.span_id if s.parent is not None else None


def span_id(s: ReadableSpan) -> int:
    return s.context.span_id


def assert_cancelled(s: ReadableSpan) -> None:
    assert s.status.status_code is StatusCode.ERROR
    assert s.attributes["respan.end_reason"] == "cancelled"
    assert s.attributes["error.type"] == CANCELLED_TYPE
    assert [e.name for e in s.events] == ["exception"]


# --- coroutine functions ----------------------------------------------------------------------


async def test_return_value_input_and_output(exporter):
    @trace(name="add")
    async def add(a: int, b: int = 10) -> int:
        await asyncio.sleep(0)
        return a + b

    assert await add(1) == 11
    s = by_name(exporter.get_finished_spans(), "add")
    assert json.loads(s.attributes["respan.input"]) == {"a": 1, "b": 10}
    assert output_of(s) == 11
    assert s.status.status_code is StatusCode.UNSET


def test_decorated_coroutine_function_is_still_one():
    @trace
    async def fn() -> None:
        return None

    assert inspect.iscoroutinefunction(fn)
    assert fn.__name__ == "fn"


async def test_the_span_covers_the_awaited_work(exporter):
    @trace(name="slow")
    async def slow() -> str:
        await asyncio.sleep(0.03)
        return "ok"

    before = time.time_ns()
    assert await slow() == "ok"
    s = by_name(exporter.get_finished_spans(), "slow")
    assert s.start_time >= before
    assert s.end_time - s.start_time >= 25_000_000


async def test_an_exception_is_recorded_and_reraised_unchanged(exporter):
    raised: list[BaseException] = []

    @trace(name="fail")
    async def fail() -> None:
        await asyncio.sleep(0)
        error = BoomError("no answer")
        raised.append(error)
        raise error

    with pytest.raises(BoomError) as info:
        await fail()
    assert info.value is raised[0]
    last = traceback.extract_tb(info.value.__traceback__)[-1]
    assert (last.name, last.line) == ("fail", "raise error")
    s = by_name(exporter.get_finished_spans(), "fail")
    assert s.status.status_code is StatusCode.ERROR
    assert "no answer" in (s.status.description or "")
    assert s.attributes["error.type"] == BOOM_TYPE
    assert "respan.end_reason" not in s.attributes
    assert "respan.output" not in s.attributes
    [event] = s.events
    assert event.name == "exception"
    assert event.attributes["exception.message"] == "no answer"


async def test_the_span_is_current_inside_and_the_callers_span_after(exporter, tracer):
    seen: list[object] = []

    @trace(name="inner")
    async def inner() -> None:
        seen.append(otel_trace.get_current_span())
        await asyncio.sleep(0)
        seen.append(otel_trace.get_current_span())

    with tracer.start_as_current_span("caller") as caller:
        await inner()
        assert otel_trace.get_current_span() is caller
    inner_id = span_id(by_name(exporter.get_finished_spans(), "inner"))
    assert [s.get_span_context().span_id for s in seen] == [inner_id, inner_id]


async def test_gather_of_traced_coroutines_parents_each_to_the_caller(exporter, tracer):
    @trace(name="work")
    async def work(i: int) -> int:
        await asyncio.sleep(0.001 * (3 - i))  # finish in reverse order
        async with span(f"inner-{i}"):
            await asyncio.sleep(0)
        return i * i

    with tracer.start_as_current_span("caller"):
        assert await asyncio.gather(*(work(i) for i in range(3))) == [0, 1, 4]
    spans = exporter.get_finished_spans()
    caller = by_name(spans, "caller")
    works = {json.loads(s.attributes["respan.input"])["i"]: s for s in spans if s.name == "work"}
    assert sorted(works) == [0, 1, 2]
    assert len({span_id(s) for s in works.values()}) == 3
    for i, w in works.items():
        assert parent_id(w) == span_id(caller)
        assert w.context.trace_id == caller.context.trace_id
        assert output_of(w) == i * i
        assert parent_id(by_name(spans, f"inner-{i}")) == span_id(w)


async def test_traced_coroutines_nest(exporter):
    @trace(name="leaf")
    async def leaf() -> int:
        await asyncio.sleep(0)
        return 1

    @trace(name="root")
    async def root() -> int:
        return await leaf() + await leaf()

    assert await root() == 2
    spans = exporter.get_finished_spans()
    root_span = by_name(spans, "root")
    leaves = [s for s in spans if s.name == "leaf"]
    assert len(leaves) == 2
    assert all(parent_id(s) == span_id(root_span) for s in leaves)
    assert parent_id(root_span) is None


# --- cancellation -----------------------------------------------------------------------------


async def test_cancelling_the_task_records_cancelled_and_propagates(exporter):
    started = asyncio.Event()

    @trace(name="slow")
    async def slow() -> None:
        started.set()
        await asyncio.sleep(10)

    task = asyncio.create_task(slow())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()
    assert_cancelled(by_name(exporter.get_finished_spans(), "slow"))


async def test_cancelling_a_task_that_awaits_a_traced_coroutine(exporter, tracer):
    started = asyncio.Event()

    @trace(name="inner")
    async def inner() -> None:
        started.set()
        await asyncio.sleep(10)

    @trace(name="outer")
    async def outer() -> None:
        await inner()

    async def plain_caller() -> None:
        with tracer.start_as_current_span("plain"):
            await outer()

    task = asyncio.create_task(plain_caller())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()
    spans = exporter.get_finished_spans()
    inner_span, outer_span = by_name(spans, "inner"), by_name(spans, "outer")
    assert_cancelled(inner_span)
    assert_cancelled(outer_span)
    assert parent_id(inner_span) == span_id(outer_span)
    assert parent_id(outer_span) == span_id(by_name(spans, "plain"))


async def test_a_coroutine_that_swallows_cancellation_is_not_marked_cancelled(exporter):
    started = asyncio.Event()

    @trace(name="stubborn")
    async def stubborn() -> str:
        started.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            return "cleaned up"
        return "finished"  # pragma: no cover

    task = asyncio.create_task(stubborn())
    await started.wait()
    task.cancel()
    assert await task == "cleaned up"
    s = by_name(exporter.get_finished_spans(), "stubborn")
    assert s.status.status_code is StatusCode.UNSET
    assert "respan.end_reason" not in s.attributes
    assert output_of(s) == "cleaned up"


async def test_wait_for_timeout_records_cancelled_without_detach_errors(exporter, caplog):
    @trace(name="slow")
    async def slow() -> None:
        await asyncio.sleep(10)

    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(slow(), 0.01)
    assert log_problems(caplog.records) == []
    assert_cancelled(by_name(exporter.get_finished_spans(), "slow"))
    assert otel_trace.get_current_span() is otel_trace.INVALID_SPAN


async def test_wait_for_inside_a_span_keeps_the_callers_span_current(exporter, tracer, caplog):
    @trace(name="slow")
    async def slow() -> None:
        await asyncio.sleep(10)

    with tracer.start_as_current_span("caller") as caller:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(slow(), 0.01)
        assert otel_trace.get_current_span() is caller
    spans = exporter.get_finished_spans()
    assert parent_id(by_name(spans, "slow")) == span_id(by_name(spans, "caller"))
    assert log_problems(caplog.records) == []


# --- sync callables that return awaitables ----------------------------------------------------


async def _sleep_then(value: Any, delay: float = 0.0) -> Any:
    await asyncio.sleep(delay)
    return value


async def test_sync_function_returning_a_coroutine_spans_the_await(exporter):
    @trace(name="deferred")
    def deferred(x: int):
        return _sleep_then(x * 2, 0.03)

    awaitable = deferred(21)
    assert exporter.get_finished_spans() == ()
    waited_from = time.time_ns()
    assert await awaitable == 42
    s = by_name(exporter.get_finished_spans(), "deferred")
    assert s.end_time >= waited_from + 25_000_000
    assert json.loads(s.attributes["respan.input"]) == {"x": 21}
    assert output_of(s) == 42
    assert s.status.status_code is StatusCode.UNSET


async def test_sync_function_returning_a_coroutine_parents_spans_inside_the_await(exporter):
    async def body() -> int:
        await asyncio.sleep(0)
        async with span("inside"):
            pass
        return 1

    @trace(name="deferred")
    def deferred():
        return body()

    assert await deferred() == 1
    spans = exporter.get_finished_spans()
    assert parent_id(by_name(spans, "inside")) == span_id(by_name(spans, "deferred"))


async def test_sync_function_returning_a_failing_coroutine(exporter):
    async def body() -> None:
        await asyncio.sleep(0)
        raise BoomError("later")

    @trace(name="deferred")
    def deferred():
        return body()

    with pytest.raises(BoomError, match="later"):
        await deferred()
    s = by_name(exporter.get_finished_spans(), "deferred")
    assert s.status.status_code is StatusCode.ERROR
    assert s.attributes["error.type"] == BOOM_TYPE


async def test_sync_function_returning_a_coroutine_that_is_cancelled(exporter):
    started = asyncio.Event()

    async def body() -> None:
        started.set()
        await asyncio.sleep(10)

    @trace(name="deferred")
    def deferred():
        return body()

    task = asyncio.create_task(deferred())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()
    assert_cancelled(by_name(exporter.get_finished_spans(), "deferred"))


async def _await(awaitable: Any) -> Any:
    return await awaitable


async def test_sync_function_returning_a_future_ends_when_it_resolves(exporter):
    future = asyncio.get_running_loop().create_future()

    @trace(name="pending")
    def pending():
        return future

    assert pending() is future
    waiter = asyncio.create_task(_await(future))  # already waiting when it resolves
    await asyncio.sleep(0.01)
    assert exporter.get_finished_spans() == ()
    resolved_at = time.time_ns()
    future.set_result({"answer": 42})
    assert await waiter == {"answer": 42}
    # the span's callback was registered first, so it has run when the waiter resumes
    s = by_name(exporter.get_finished_spans(), "pending")
    assert s.end_time >= resolved_at
    assert output_of(s) == {"answer": 42}
    assert s.status.status_code is StatusCode.UNSET


async def test_sync_function_returning_a_future_that_fails(exporter):
    future = asyncio.get_running_loop().create_future()

    @trace(name="pending")
    def pending():
        return future

    pending()
    error = BoomError("future failed")
    future.set_exception(error)
    with pytest.raises(BoomError) as info:
        await future
    assert info.value is error
    await asyncio.sleep(0)  # done callbacks run on the next loop iteration
    s = by_name(exporter.get_finished_spans(), "pending")
    assert s.status.status_code is StatusCode.ERROR
    assert s.attributes["error.type"] == BOOM_TYPE
    assert s.events[0].attributes["exception.message"] == "future failed"


async def test_sync_function_returning_a_future_that_is_cancelled(exporter):
    future = asyncio.get_running_loop().create_future()

    @trace(name="pending")
    def pending():
        return future

    pending()
    future.cancel()
    with pytest.raises(asyncio.CancelledError):
        await future
    await asyncio.sleep(0)  # done callbacks run on the next loop iteration
    s = by_name(exporter.get_finished_spans(), "pending")
    assert s.status.status_code is StatusCode.ERROR
    assert s.attributes["respan.end_reason"] == "cancelled"


async def test_sync_function_returning_a_task_ends_with_the_task(exporter):
    @trace(name="spawn")
    def spawn():
        return asyncio.ensure_future(_sleep_then("done", 0.02))

    task = spawn()
    assert exporter.get_finished_spans() == ()
    assert await task == "done"
    await asyncio.sleep(0)
    s = by_name(exporter.get_finished_spans(), "spawn")
    assert output_of(s) == "done"
    assert s.end_time - s.start_time >= 15_000_000
