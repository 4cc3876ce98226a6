"""@trace on async generators: items as output, asend/athrow/aclose, early exits, tasks.

Async generators are where peers ship "Failed to detach context": the generator is closed
by ``aclose()`` from another task, or by asyncio's finalizer after garbage collection. The
span must be current only inside the body, end in every case, and never leak.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import json
import traceback
from contextlib import asynccontextmanager
from typing import Any

import pytest
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from respan_otel import span, trace
from respan_otel._settings import CaptureSettings, set_capture_settings
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


async def settle() -> None:
    """Let the loop run scheduled callbacks and tasks (asyncio's generator finalizer)."""
    for _ in range(10):
        await asyncio.sleep(0)


@trace(name="count")
async def count(n: int):
    for i in range(n):
        await asyncio.sleep(0)
        yield i


async def collect(agen) -> list[Any]:
    return [item async for item in agen]


# --- output, exhaustion -----------------------------------------------------------------------


async def test_output_is_the_yielded_items_and_the_span_ends_on_exhaustion(exporter):
    assert await collect(count(3)) == [0, 1, 2]
    s = by_name(exporter.get_finished_spans(), "count")
    assert output_of(s) == [0, 1, 2]
    assert json.loads(s.attributes["respan.input"]) == {"n": 3}
    assert s.status.status_code is StatusCode.UNSET
    assert "respan.end_reason" not in s.attributes


async def test_decorated_async_generator_function_is_still_one():
    assert inspect.isasyncgenfunction(count)
    agen = count(1)
    assert inspect.isasyncgen(agen)
    await agen.aclose()


async def test_never_iterated_async_generator_produces_no_span(exporter):
    agen = count(3)
    del agen
    gc.collect()
    closed = count(3)
    await closed.aclose()
    await settle()
    assert exporter.get_finished_spans() == ()


# --- asend / athrow, side by side with the undecorated generator ------------------------------


async def accumulator():
    total = 0
    while True:
        value = yield total
        if value is None:
            return
        total += value


async def resilient():
    for i in range(3):
        try:
            yield i
        except KeyError as exc:
            yield f"caught {exc.args[0]}"


async def fragile():
    yield 1
    yield 2


async def test_asend_behaves_as_on_the_undecorated_generator(exporter):
    async def drive(agen):
        seen = [await agen.asend(None)]
        for value in (1, 2, 3):
            seen.append(await agen.asend(value))
        with pytest.raises(StopAsyncIteration):
            await agen.asend(None)
        return seen

    assert await drive(accumulator()) == [0, 1, 3, 6]
    assert await drive(trace(name="acc")(accumulator)()) == [0, 1, 3, 6]
    s = by_name(exporter.get_finished_spans(), "acc")
    assert output_of(s) == [0, 1, 3, 6]
    assert s.status.status_code is StatusCode.UNSET


async def test_asending_a_value_to_a_just_started_generator_fails_the_same_way():
    with pytest.raises(TypeError) as plain:
        await accumulator().asend(5)
    with pytest.raises(TypeError) as traced:
        await trace(accumulator)().asend(5)
    assert str(traced.value) == str(plain.value)


async def test_athrow_that_the_generator_catches_behaves_as_undecorated(exporter):
    async def drive(agen):
        seen = [await anext(agen), await agen.athrow(KeyError("k"))]
        seen.extend([item async for item in agen])
        return seen

    assert await drive(resilient()) == [0, "caught k", 1, 2]
    assert await drive(trace(name="resilient")(resilient)()) == [0, "caught k", 1, 2]
    s = by_name(exporter.get_finished_spans(), "resilient")
    assert output_of(s) == [0, "caught k", 1, 2]
    assert s.status.status_code is StatusCode.UNSET


async def test_athrow_that_the_generator_does_not_catch_behaves_as_undecorated(exporter):
    async def drive(agen):
        assert await anext(agen) == 1
        error = BoomError("thrown in")
        with pytest.raises(BoomError) as info:
            await agen.athrow(error)
        assert info.value is error
        frames = [f.name for f in traceback.extract_tb(info.value.__traceback__)]
        assert "fragile" in frames
        with pytest.raises(StopAsyncIteration):
            await anext(agen)

    await drive(fragile())
    await drive(trace(name="fragile")(fragile)())
    s = by_name(exporter.get_finished_spans(), "fragile")
    assert s.status.status_code is StatusCode.ERROR
    assert s.attributes["error.type"] == BOOM_TYPE
    assert output_of(s) == [1]
    [event] = s.events
    assert event.attributes["exception.message"] == "thrown in"


async def test_athrow_that_the_generator_turns_into_an_end_behaves_as_undecorated(exporter):
    async def recovering():
        try:
            yield 1
        except KeyError:
            return

    async def drive(agen):
        await anext(agen)
        with pytest.raises(StopAsyncIteration):
            await agen.athrow(KeyError("k"))

    await drive(recovering())
    await drive(trace(name="recovering")(recovering)())
    s = by_name(exporter.get_finished_spans(), "recovering")
    assert s.status.status_code is StatusCode.UNSET
    assert output_of(s) == [1]


async def test_works_under_asynccontextmanager_including_exceptions(exporter):
    @asynccontextmanager
    @trace(name="managed")
    async def managed():
        await asyncio.sleep(0)
        yield "resource"
        await asyncio.sleep(0)

    async with managed() as resource:
        assert resource == "resource"
    error = BoomError("in the block")
    with pytest.raises(BoomError) as info:
        async with managed():
            raise error
    assert info.value is error
    ok, failed = exporter.get_finished_spans()
    assert ok.status.status_code is StatusCode.UNSET
    assert output_of(ok) == ["resource"]
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.attributes["error.type"] == BOOM_TYPE


async def test_async_generator_method_input_leaves_out_self(exporter):
    class Source:
        @trace(name="rows")
        async def rows(self, limit: int):
            for i in range(limit):
                yield i

    assert await collect(Source().rows(2)) == [0, 1]
    s = by_name(exporter.get_finished_spans(), "rows")
    assert json.loads(s.attributes["respan.input"]) == {"limit": 2}


# --- errors and cancellation ------------------------------------------------------------------


async def test_an_exception_in_the_body_is_recorded_and_reraised_unchanged(exporter):
    raised: list[BaseException] = []

    @trace(name="explode")
    async def explode():
        yield 1
        await asyncio.sleep(0)
        error = BoomError("bad item")
        raised.append(error)
        raise error

    agen = explode()
    assert await anext(agen) == 1
    with pytest.raises(BoomError) as info:
        await anext(agen)
    assert info.value is raised[0]
    last = traceback.extract_tb(info.value.__traceback__)[-1]
    assert (last.name, last.line) == ("explode", "raise error")

    s = by_name(exporter.get_finished_spans(), "explode")
    assert s.status.status_code is StatusCode.ERROR
    assert s.attributes["error.type"] == BOOM_TYPE
    assert "respan.end_reason" not in s.attributes
    assert output_of(s) == [1]
    [event] = s.events
    assert event.name == "exception"
    assert event.attributes["exception.message"] == "bad item"


async def test_an_exception_raised_while_closing_still_ends_the_span(exporter):
    """The generator's own cleanup fails during aclose(): the span must not be lost."""

    async def bad_cleanup():
        try:
            yield 1
            yield 2
        finally:
            await asyncio.sleep(0)
            raise BoomError("cleanup failed")

    plain = bad_cleanup()
    await anext(plain)
    with pytest.raises(BoomError):
        await plain.aclose()

    agen = trace(name="bad_cleanup")(bad_cleanup)()
    assert await anext(agen) == 1
    with pytest.raises(BoomError, match="cleanup failed"):
        await agen.aclose()
    s = by_name(exporter.get_finished_spans(), "bad_cleanup")
    assert s.status.status_code is StatusCode.ERROR
    assert s.attributes["error.type"] == BOOM_TYPE


async def test_cancelling_the_consumer_mid_step_ends_the_span_as_cancelled(exporter):
    started = asyncio.Event()

    @trace(name="slow")
    async def slow():
        yield 1
        started.set()
        await asyncio.sleep(10)
        yield 2  # pragma: no cover

    async def consume():
        return await collect(slow())

    task = asyncio.create_task(consume())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()
    s = by_name(exporter.get_finished_spans(), "slow")
    assert s.status.status_code is StatusCode.ERROR
    assert s.attributes["respan.end_reason"] == "cancelled"
    assert s.attributes["error.type"] == CANCELLED_TYPE
    assert output_of(s) == [1]


async def test_wait_for_timeout_on_a_step_ends_the_span_without_detach_errors(exporter, caplog):
    @trace(name="slow")
    async def slow():
        yield 1
        await asyncio.sleep(10)
        yield 2  # pragma: no cover

    agen = slow()
    assert await anext(agen) == 1
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(anext(agen), 0.01)
    with pytest.raises(StopAsyncIteration):
        await anext(agen)
    assert log_problems(caplog.records) == []
    s = by_name(exporter.get_finished_spans(), "slow")
    assert s.attributes["respan.end_reason"] == "cancelled"
    assert s.status.status_code is StatusCode.ERROR
    assert otel_trace.get_current_span() is otel_trace.INVALID_SPAN


# --- early exits: break, aclose, garbage collection -------------------------------------------


def make_stream(log: list[str]):
    @trace(name="stream")
    async def stream():
        try:
            for i in range(10):
                await asyncio.sleep(0)
                yield i
        finally:
            await asyncio.sleep(0)  # cleanup that awaits, as real clients do
            log.append("body finally")

    return stream


def assert_closed(s: ReadableSpan, items: list[int]) -> None:
    assert s.attributes["respan.end_reason"] == "closed"
    assert s.status.status_code is not StatusCode.ERROR
    assert "error.type" not in s.attributes
    assert s.events == ()
    assert output_of(s) == items


async def test_aclose_after_break_ends_the_span_as_closed(exporter, caplog):
    log: list[str] = []
    agen = make_stream(log)()
    async for item in agen:
        if item == 2:
            break
    await agen.aclose()
    assert log == ["body finally"]
    assert_closed(by_name(exporter.get_finished_spans(), "stream"), [0, 1, 2])
    assert log_problems(caplog.records) == []


async def test_break_and_drop_is_closed_by_asyncios_finalizer(exporter, caplog):
    log: list[str] = []
    async for item in make_stream(log)():
        if item == 1:
            break
    await settle()
    assert log == ["body finally"]
    assert_closed(by_name(exporter.get_finished_spans(), "stream"), [0, 1])
    assert log_problems(caplog.records) == []


async def test_garbage_collection_of_a_half_consumed_generator_ends_the_span(exporter, caplog):
    log: list[str] = []
    agen = make_stream(log)()
    assert [await anext(agen), await anext(agen)] == [0, 1]
    cycle: dict[str, Any] = {"agen": agen}
    cycle["self"] = cycle  # only the cyclic collector can free it
    del agen, cycle
    gc.collect()
    await settle()
    assert log == ["body finally"]
    assert_closed(by_name(exporter.get_finished_spans(), "stream"), [0, 1])
    assert log_problems(caplog.records) == []
    assert otel_trace.get_current_span() is otel_trace.INVALID_SPAN


async def test_aclose_from_another_task(exporter, tracer, caplog):
    log: list[str] = []
    with tracer.start_as_current_span("creator"):
        agen = make_stream(log)()
        assert await anext(agen) == 0

    async def closer() -> object:
        await agen.aclose()
        return otel_trace.get_current_span()

    assert await asyncio.create_task(closer()) is otel_trace.INVALID_SPAN
    assert log == ["body finally"]
    assert log_problems(caplog.records) == []
    spans = exporter.get_finished_spans()
    s = by_name(spans, "stream")
    assert_closed(s, [0])
    assert parent_id(s) == span_id(by_name(spans, "creator"))
    assert otel_trace.get_current_span() is otel_trace.INVALID_SPAN


async def test_aclose_from_another_task_while_the_consumer_is_parked(exporter, caplog):
    log: list[str] = []
    agen = make_stream(log)()
    consumed: list[int] = []
    resume = asyncio.Event()

    async def consumer():
        async for item in agen:
            consumed.append(item)
            await resume.wait()  # parked between items, as a slow HTTP client would be

    task = asyncio.create_task(consumer())
    await settle()
    assert consumed == [0]
    await asyncio.create_task(agen.aclose())
    resume.set()
    await task  # the consumer's next anext() sees a closed generator and simply stops
    assert log == ["body finally"]
    assert_closed(by_name(exporter.get_finished_spans(), "stream"), [0])
    assert log_problems(caplog.records) == []


# --- context: parentage, what is current where, tasks -----------------------------------------


async def test_spans_opened_in_the_body_are_children_of_the_generators_span(exporter, tracer):
    @trace(name="child")
    async def child(x: int) -> int:
        await asyncio.sleep(0)
        return x

    @trace(name="gen")
    async def gen():
        yield await child(1)
        with tracer.start_as_current_span("foreign"):
            await asyncio.sleep(0)
        async with span("ours"):
            await asyncio.sleep(0)
        yield await child(2)

    with tracer.start_as_current_span("consumer"):
        assert await collect(gen()) == [1, 2]
    spans = exporter.get_finished_spans()
    consumer, gen_span = by_name(spans, "consumer"), by_name(spans, "gen")
    children = [s for s in spans if s.name in ("child", "foreign", "ours")]
    assert len(children) == 4
    assert parent_id(gen_span) == span_id(consumer)
    assert all(parent_id(c) == span_id(gen_span) for c in children)
    assert {s.context.trace_id for s in spans} == {consumer.context.trace_id}


async def test_the_generators_span_is_current_only_inside_the_body(exporter, tracer):
    inside: list[object] = []

    @trace(name="gen")
    async def gen():
        for i in range(3):
            await asyncio.sleep(0)
            inside.append(otel_trace.get_current_span())
            yield i

    between: list[object] = []
    with tracer.start_as_current_span("consumer") as consumer:
        async for _ in gen():
            await asyncio.sleep(0)
            between.append(otel_trace.get_current_span())
        after = otel_trace.get_current_span()
    assert between == [consumer, consumer, consumer]
    assert after is consumer
    gen_span_id = span_id(by_name(exporter.get_finished_spans(), "gen"))
    assert [s.get_span_context().span_id for s in inside] == [gen_span_id] * 3


async def test_consumed_by_another_task_keeps_the_creators_parent(exporter, tracer):
    with tracer.start_as_current_span("creator"):
        agen = count(3)
    # a task created outside the creator's span: its context has no span at all
    assert await asyncio.create_task(collect(agen)) == [0, 1, 2]
    spans = exporter.get_finished_spans()
    creator, s = by_name(spans, "creator"), by_name(spans, "count")
    assert parent_id(s) == span_id(creator)
    assert s.context.trace_id == creator.context.trace_id


async def test_items_consumed_alternately_by_two_tasks(exporter, caplog):
    agen = count(4)
    first = await asyncio.create_task(anext(agen))
    second = await asyncio.create_task(anext(agen))
    rest = await asyncio.create_task(collect(agen))
    assert [first, second, *rest] == [0, 1, 2, 3]
    assert output_of(by_name(exporter.get_finished_spans(), "count")) == [0, 1, 2, 3]
    assert log_problems(caplog.records) == []


async def test_two_tasks_each_with_their_own_generator_do_not_cross(exporter, tracer):
    async def consume(label: str) -> list[int]:
        with tracer.start_as_current_span(label):
            return await collect(count(3))

    assert await asyncio.gather(consume("a"), consume("b")) == [[0, 1, 2], [0, 1, 2]]
    spans = exporter.get_finished_spans()
    counts = [s for s in spans if s.name == "count"]
    assert sorted(parent_id(s) for s in counts) == sorted(
        span_id(by_name(spans, label)) for label in ("a", "b")
    )


async def test_the_bodys_own_context_survives_its_yields(exporter):
    """A block opened in the body and spanning a yield stays current after the yield."""

    async def body():
        async with span("block"):
            yield 1
            async with span("leaf"):
                pass
            yield 2

    assert await collect(body()) == [1, 2]
    spans = exporter.get_finished_spans()
    assert parent_id(by_name(spans, "leaf")) == span_id(by_name(spans, "block"))
    exporter.clear()

    assert await collect(trace(name="gen")(body)()) == [1, 2]
    spans = exporter.get_finished_spans()
    assert parent_id(by_name(spans, "leaf")) == span_id(by_name(spans, "block"))
    assert parent_id(by_name(spans, "block")) == span_id(by_name(spans, "gen"))


async def test_a_span_block_across_a_yield_closed_from_another_task(exporter, caplog):
    """The usual streaming shape: ``async with span()`` around the yields, then the stream
    is closed by another task. No "Failed to detach context", every span ended."""

    @trace(name="gen")
    async def gen():
        async with span("block"):
            yield 1
            yield 2

    agen = gen()
    assert await anext(agen) == 1
    await asyncio.create_task(agen.aclose())
    assert log_problems(caplog.records) == []
    spans = exporter.get_finished_spans()
    assert by_name(spans, "block").attributes["respan.end_reason"] == "closed"
    assert by_name(spans, "gen").attributes["respan.end_reason"] == "closed"


# --- output bounds and hooks ------------------------------------------------------------------


async def test_output_is_capped_by_item_count_with_a_marker(exporter):
    set_capture_settings(CaptureSettings(max_stream_items=5))
    assert await collect(count(12)) == list(range(12))
    assert output_of(by_name(exporter.get_finished_spans(), "count")) == [
        0,
        1,
        2,
        3,
        4,
        {"_truncated": 7},
    ]


async def test_output_is_capped_by_bytes_with_a_marker(exporter):
    set_capture_settings(CaptureSettings(max_field_bytes=300))

    @trace(name="big")
    async def big():
        for i in range(20):
            yield f"{i:02d}" + "y" * 48

    items = await collect(big())
    raw = by_name(exporter.get_finished_spans(), "big").attributes["respan.output"]
    assert len(raw.encode()) <= 300
    *kept, marker = json.loads(raw)
    assert 1 <= len(kept) < 20
    assert kept == items[: len(kept)]
    assert marker == {"_truncated": 20 - len(kept)}


async def test_process_output_receives_the_items(exporter):
    @trace(name="tokens", process_output="".join)
    async def tokens():
        for token in ["Hel", "lo", " world"]:
            yield token

    assert await collect(tokens()) == ["Hel", "lo", " world"]
    assert output_of(by_name(exporter.get_finished_spans(), "tokens")) == "Hello world"


async def test_process_output_receives_the_items_so_far_on_early_close(exporter):
    @trace(name="tokens", process_output="".join)
    async def tokens():
        for token in ["a", "b", "c", "d"]:
            yield token

    agen = tokens()
    assert [await anext(agen), await anext(agen)] == ["a", "b"]
    await agen.aclose()
    s = by_name(exporter.get_finished_spans(), "tokens")
    assert output_of(s) == "ab"
    assert s.attributes["respan.end_reason"] == "closed"
