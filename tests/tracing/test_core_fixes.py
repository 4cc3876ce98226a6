"""Tracing-core bugs reproduced from issue 12, each failing on the code before the fix."""

from __future__ import annotations

import contextvars
import gc
import json
import logging
import threading
import warnings
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from respan_otel import propagate, span, trace
from tests.conftest import by_name


def context_size() -> int:
    return len(contextvars.copy_context())


def test_span_and_propagate_leave_no_context_entries_behind() -> None:
    # one variable per object used to stay in the caller's context for ever: a leak per call
    before = context_size()
    for _ in range(10_000):
        with span("s"), propagate(session_id="x"):
            pass
    assert context_size() <= before + 2


def test_traced_calls_leave_no_context_entries_behind(exporter: InMemorySpanExporter) -> None:
    @trace
    def f(x: int) -> int:
        return x

    before = context_size()
    for i in range(10_000):
        f(i)
    assert context_size() <= before + 2
    assert len(exporter.get_finished_spans()) == 10_000


def test_span_exited_in_another_thread_still_ends(
    exporter: InMemorySpanExporter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="respan_otel")
    block = span("crossing")
    entered = contextvars.copy_context()  # entered in a context of its own: the test's stays clean
    handle = entered.run(block.__enter__)
    assert handle.is_recording
    worker = threading.Thread(target=block.__exit__, args=(None, None, None))
    worker.start()
    worker.join()
    assert [s.name for s in exporter.get_finished_spans()] == ["crossing"]
    assert any("another thread or task" in r.getMessage() for r in caplog.records)
    block.__exit__(None, None, None)  # a second exit finds nothing left to end
    assert len(exporter.get_finished_spans()) == 1


@trace
def takes_self(self: str, x: int) -> int:
    return x


@trace
def takes_cls(cls: str, x: int) -> int:
    return x


def test_plain_function_keeps_a_first_argument_named_self_or_cls(
    exporter: InMemorySpanExporter,
) -> None:
    takes_self("me", 1)
    takes_cls("them", 2)
    spans = exporter.get_finished_spans()
    assert json.loads(by_name(spans, "takes_self").attributes["respan.input"]) == {
        "self": "me",
        "x": 1,
    }
    assert json.loads(by_name(spans, "takes_cls").attributes["respan.input"]) == {
        "cls": "them",
        "x": 2,
    }


class Greeter:
    @trace
    def hello(self, name: str) -> str:
        return f"hi {name}"

    @classmethod
    @trace
    def make(cls, n: int) -> int:
        return n


def test_methods_still_leave_out_their_receiver(exporter: InMemorySpanExporter) -> None:
    Greeter().hello("ann")
    Greeter.hello(Greeter(), name="bob")
    Greeter.make(3)
    spans = exporter.get_finished_spans()
    inputs = [json.loads(s.attributes["respan.input"]) for s in spans]
    assert inputs == [{"name": "ann"}, {"name": "bob"}, {"n": 3}]


async def _answer() -> int:
    return 42


@trace(name="returns_coroutine")
def returns_coroutine() -> Any:
    return _answer()


def test_coroutine_never_awaited_still_ends_its_span(exporter: InMemorySpanExporter) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "coroutine ... was never awaited"
        returns_coroutine()
        gc.collect()
    (ended,) = exporter.get_finished_spans()
    assert ended.name == "returns_coroutine"
    assert ended.attributes["respan.end_reason"] == "not_awaited"
    assert not ended.status.is_ok


async def test_coroutine_awaited_later_ends_once(exporter: InMemorySpanExporter) -> None:
    pending = returns_coroutine()
    assert exporter.get_finished_spans() == ()
    assert await pending == 42
    del pending
    gc.collect()
    (ended,) = exporter.get_finished_spans()
    assert json.loads(ended.attributes["respan.output"]) == 42
    assert "respan.end_reason" not in ended.attributes


REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="none")


def test_generator_sees_the_consumers_later_context_changes() -> None:
    @trace
    def reader() -> Iterator[str]:
        while True:
            yield REQUEST_ID.get()

    def consume() -> list[str]:
        gen = reader()
        seen = [next(gen)]
        REQUEST_ID.set("a")
        seen.append(next(gen))
        REQUEST_ID.set("b")
        seen.append(next(gen))
        gen.close()
        return seen

    assert contextvars.copy_context().run(consume) == ["none", "a", "b"]


class Ambiguous:
    """Like a numpy array or a DataFrame: ``==`` with another one raises."""

    def __eq__(self, other: object) -> bool:
        raise ValueError("the truth value of an array is ambiguous")

    __hash__ = object.__hash__


SESSION: contextvars.ContextVar[object] = contextvars.ContextVar("session", default=None)


def test_generator_steps_when_the_consumer_rebinds_a_value_whose_eq_raises(
    exporter: InMemorySpanExporter,
) -> None:
    # the step compared the consumer's context with ==, which compares rebound values
    @trace
    def reader() -> Iterator[object]:
        while True:
            yield SESSION.get()

    first, second = Ambiguous(), Ambiguous()

    def consume() -> list[object]:
        gen = reader()
        SESSION.set(first)
        seen = [next(gen)]
        SESSION.set(second)
        seen.append(next(gen))  # raised ValueError in the consumer
        gen.close()
        return seen

    seen = contextvars.copy_context().run(consume)
    assert seen[0] is first
    assert seen[1] is second
    assert [s.status.is_ok for s in exporter.get_finished_spans()] == [True]


async def test_async_generator_steps_when_the_consumer_rebinds_a_value_whose_eq_raises(
    exporter: InMemorySpanExporter,
) -> None:
    @trace
    async def reader() -> AsyncIterator[object]:
        while True:
            yield SESSION.get()

    first, second = Ambiguous(), Ambiguous()
    gen = reader()
    SESSION.set(first)
    seen = [await gen.__anext__()]
    SESSION.set(second)
    seen.append(await gen.__anext__())
    await gen.aclose()
    assert seen[0] is first
    assert seen[1] is second
    assert [s.status.is_ok for s in exporter.get_finished_spans()] == [True]


def test_generator_body_changes_stay_inside_and_survive_steps() -> None:
    @trace
    def setter() -> Iterator[str]:
        REQUEST_ID.set("inner")
        yield REQUEST_ID.get()
        yield REQUEST_ID.get()

    def consume() -> tuple[list[str], str]:
        got = list(setter())
        return got, REQUEST_ID.get()

    assert contextvars.copy_context().run(consume) == (["inner", "inner"], "none")
