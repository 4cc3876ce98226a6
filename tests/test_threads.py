"""Parentage across threads and asyncio tasks.

A plain ``ThreadPoolExecutor`` worker starts with an empty context, so spans opened there
become new roots: that is the hazard ``ContextThreadPoolExecutor`` and ``wrap_context``
exist for. asyncio tasks copy the context by themselves; ``run_in_executor`` does not.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import ReadableSpan

from respan_otel import ContextThreadPoolExecutor, propagate, span, trace, wrap_context
from tests.conftest import by_name

pytestmark = pytest.mark.usefixtures("no_context_errors")


def parent_id(s: ReadableSpan) -> int | None:
    return s.parent.span_id if s.parent is not None else None


def span_id(s: ReadableSpan) -> int:
    return s.context.span_id


@trace(name="work")
def work(i: int) -> int:
    return i * 2


def children_of(spans, parent: ReadableSpan, name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name and parent_id(s) == span_id(parent)]


# --- executors --------------------------------------------------------------------------------


def test_plain_thread_pool_worker_starts_a_new_root_trace(exporter):
    """The hazard: the worker's context is empty, the submitter's span is lost."""
    with span("submitter"), ThreadPoolExecutor(1) as pool:
        assert pool.submit(work, 1).result() == 2
    spans = exporter.get_finished_spans()
    submitter, child = by_name(spans, "submitter"), by_name(spans, "work")
    assert child.parent is None
    assert child.context.trace_id != submitter.context.trace_id


def test_context_executor_submit_parents_to_the_submitters_span(exporter):
    with span("submitter"), ContextThreadPoolExecutor(2) as pool:
        assert pool.submit(work, 3).result() == 6
        assert pool.submit(work, i=4).result() == 8
    spans = exporter.get_finished_spans()
    submitter = by_name(spans, "submitter")
    children = children_of(spans, submitter, "work")
    assert len(children) == 2
    assert {c.context.trace_id for c in children} == {submitter.context.trace_id}
    assert sorted(json.loads(c.attributes["respan.input"])["i"] for c in children) == [3, 4]


def test_context_executor_map_parents_every_call(exporter):
    with span("submitter"), ContextThreadPoolExecutor(3) as pool:
        assert list(pool.map(work, range(6))) == [0, 2, 4, 6, 8, 10]
    spans = exporter.get_finished_spans()
    assert len(children_of(spans, by_name(spans, "submitter"), "work")) == 6


def test_context_is_the_one_at_submit_time_not_at_pool_creation(exporter):
    with ContextThreadPoolExecutor(1) as pool:
        with span("first"):
            pool.submit(work, 1).result()
        with span("second"):
            pool.submit(work, 2).result()
        pool.submit(work, 3).result()
    spans = exporter.get_finished_spans()
    works = {json.loads(s.attributes["respan.input"])["i"]: s for s in spans if s.name == "work"}
    assert parent_id(works[1]) == span_id(by_name(spans, "first"))
    assert parent_id(works[2]) == span_id(by_name(spans, "second"))
    assert works[3].parent is None


def test_worker_threads_are_left_without_a_current_span(exporter):
    def probe() -> object:
        return otel_trace.get_current_span()

    with ContextThreadPoolExecutor(1) as pool:
        with span("submitter") as handle:
            assert pool.submit(probe).result() is handle.span
        # same worker thread, submitted outside any span: nothing left over from before
        assert pool.submit(probe).result() is otel_trace.INVALID_SPAN


def test_a_worker_submitting_to_another_context_executor_chains_parents(exporter):
    inner_pool = ContextThreadPoolExecutor(1)

    @trace(name="middle")
    def middle() -> int:
        return inner_pool.submit(work, 5).result()

    with span("top"), ContextThreadPoolExecutor(1) as outer_pool:
        assert outer_pool.submit(middle).result() == 10
    inner_pool.shutdown()
    spans = exporter.get_finished_spans()
    top, mid, leaf = by_name(spans, "top"), by_name(spans, "middle"), by_name(spans, "work")
    assert parent_id(mid) == span_id(top)
    assert parent_id(leaf) == span_id(mid)


def test_submit_then_parent_ends_before_the_worker_runs(exporter):
    release = threading.Event()

    def late() -> int:
        release.wait(5)
        return work(7)

    with ContextThreadPoolExecutor(1) as pool:
        with span("short_parent"):
            future = pool.submit(late)
        assert by_name(exporter.get_finished_spans(), "short_parent")  # already ended
        release.set()
        assert future.result() == 14
    spans = exporter.get_finished_spans()
    parent, child = by_name(spans, "short_parent"), by_name(spans, "work")
    assert parent.end_time < child.start_time
    assert parent_id(child) == span_id(parent)
    assert child.context.trace_id == parent.context.trace_id


def test_propagated_values_reach_spans_in_worker_threads(exporter, tracer):
    def in_worker() -> None:
        work(1)
        with tracer.start_as_current_span("foreign"):
            pass

    with (
        propagate(session_id="s-1", customer_identifier="c-1", metadata={"tenant": "acme"}),
        ContextThreadPoolExecutor(1) as pool,
    ):
        pool.submit(in_worker).result()
    spans = exporter.get_finished_spans()
    for name in ("work", "foreign"):
        attributes = by_name(spans, name).attributes
        assert attributes["respan.session_id"] == "s-1"
        assert attributes["respan.customer_identifier"] == "c-1"
        assert json.loads(attributes["respan.metadata"]) == {"tenant": "acme"}


def test_eight_threads_times_two_hundred_calls_all_parent_correctly(exporter):
    threads, calls = 8, 200
    barrier = threading.Barrier(threads)

    def worker(t: int) -> int:
        barrier.wait(5)  # all threads really run at once
        with span(f"thread-{t}"):
            return sum(work(t * calls + i) for i in range(calls))

    with span("root"), ContextThreadPoolExecutor(threads) as pool:
        totals = list(pool.map(worker, range(threads)))
    assert totals == [sum(2 * (t * calls + i) for i in range(calls)) for t in range(threads)]

    spans = exporter.get_finished_spans()
    assert len(spans) == 1 + threads + threads * calls
    root = by_name(spans, "root")
    by_id = {span_id(s): s for s in spans}
    assert len(by_id) == len(spans)
    for t in range(threads):
        thread_span = by_name(spans, f"thread-{t}")
        assert parent_id(thread_span) == span_id(root)
        mine = children_of(spans, thread_span, "work")
        assert len(mine) == calls
        inputs = sorted(json.loads(s.attributes["respan.input"])["i"] for s in mine)
        assert inputs == list(range(t * calls, (t + 1) * calls))
    assert {s.context.trace_id for s in spans} == {root.context.trace_id}


# --- wrap_context -----------------------------------------------------------------------------


def test_wrap_context_runs_the_callable_in_the_captured_context(exporter):
    with span("captured"):
        bound = wrap_context(work)
    with span("elsewhere"), ThreadPoolExecutor(1) as pool:
        assert pool.submit(bound, 2).result() == 4
    spans = exporter.get_finished_spans()
    assert parent_id(by_name(spans, "work")) == span_id(by_name(spans, "captured"))


def test_wrap_context_is_callable_from_several_threads_at_once(exporter):
    barrier = threading.Barrier(4)

    def step(i: int) -> int:
        barrier.wait(5)  # four threads inside the same captured context at the same time
        with span(f"step-{i}"):
            return work(i)

    with span("captured"):
        bound = wrap_context(step)
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(bound, range(4))) == [0, 2, 4, 6]
    spans = exporter.get_finished_spans()
    captured = by_name(spans, "captured")
    for i in range(4):
        step_span = by_name(spans, f"step-{i}")
        assert parent_id(step_span) == span_id(captured)
        assert len(children_of(spans, step_span, "work")) == 1


def test_wrap_context_keeps_the_callables_identity_and_isolates_calls():
    marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker", default="unset")

    def mutate(value: str) -> str:
        before = marker.get()
        marker.set(value)
        return before

    marker.set("captured")
    bound = wrap_context(mutate)
    marker.set("later")
    assert bound.__name__ == "mutate"
    assert bound.__wrapped__ is mutate
    assert bound("first") == "captured"
    assert bound("second") == "captured"  # the first call's change did not stick
    assert marker.get() == "later"


# --- asyncio ----------------------------------------------------------------------------------


async def test_tasks_created_inside_a_span_are_its_children(exporter):
    @trace(name="job")
    async def job(i: int) -> int:
        await asyncio.sleep(0)
        return i

    async with span("parent"):
        tasks = [asyncio.create_task(job(i)) for i in range(3)]
    assert await asyncio.gather(*tasks) == [0, 1, 2]  # they finish after the parent ended
    spans = exporter.get_finished_spans()
    assert len(children_of(spans, by_name(spans, "parent"), "job")) == 3


async def test_to_thread_carries_the_context(exporter):
    async with span("parent"):
        assert await asyncio.to_thread(work, 4) == 8
    spans = exporter.get_finished_spans()
    assert parent_id(by_name(spans, "work")) == span_id(by_name(spans, "parent"))


async def test_run_in_executor_with_a_plain_pool_loses_the_parent(exporter):
    """Documented hazard: run_in_executor does not copy the context."""
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(1) as pool:
        async with span("parent"):
            assert await loop.run_in_executor(pool, work, 1) == 2
    assert by_name(exporter.get_finished_spans(), "work").parent is None


async def test_run_in_executor_with_a_context_executor_keeps_the_parent(exporter):
    @trace(name="handler")
    async def handler() -> list[int]:
        loop = asyncio.get_running_loop()
        with ContextThreadPoolExecutor(2) as pool:
            return list(
                await asyncio.gather(*(loop.run_in_executor(pool, work, i) for i in (1, 2)))
            )

    assert await handler() == [2, 4]
    spans = exporter.get_finished_spans()
    assert len(children_of(spans, by_name(spans, "handler"), "work")) == 2


async def test_run_in_executor_with_wrap_context_keeps_the_parent(exporter):
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(1) as pool:
        async with span("parent"):
            assert await loop.run_in_executor(pool, wrap_context(work), 3) == 6
    spans = exporter.get_finished_spans()
    assert parent_id(by_name(spans, "work")) == span_id(by_name(spans, "parent"))


async def test_sibling_tasks_do_not_see_each_others_spans(exporter):
    seen: dict[str, Any] = {}

    async def branch(name: str, delay: float) -> None:
        async with span(name) as handle:
            await asyncio.sleep(delay)
            seen[name] = (handle.span, otel_trace.get_current_span())
            await asyncio.to_thread(work, 1)

    async with span("root"):
        await asyncio.gather(branch("a", 0.002), branch("b", 0))
    for mine, current in seen.values():
        assert mine is current
    spans = exporter.get_finished_spans()
    for name in ("a", "b"):
        assert parent_id(by_name(spans, name)) == span_id(by_name(spans, "root"))
        assert len(children_of(spans, by_name(spans, name), "work")) == 1
