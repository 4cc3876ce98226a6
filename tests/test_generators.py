"""@trace on sync generators: items as output, send/throw/close, early exits, context.

The span must be current only while the generator body runs, never in the consumer's code
between items, and must end on exhaustion, error, ``close()``, early ``break`` and garbage
collection, whoever drives the generator. "Failed to detach context" must never appear.
"""

from __future__ import annotations

import copy
import gc
import inspect
import itertools
import json
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from respan_otel import propagate, span, trace, update_current_span
from respan_otel._redact import get_redactor
from respan_otel._serialize import dumps
from respan_otel._settings import CaptureSettings, set_capture_settings
from tests.conftest import by_name, log_problems


class BoomError(Exception):
    pass


BOOM_TYPE = f"{BoomError.__module__}.{BoomError.__qualname__}"


pytestmark = pytest.mark.usefixtures("no_context_errors")


def output_of(s: ReadableSpan) -> Any:
    return json.loads(s.attributes["respan.output"])


def parent_id(s: ReadableSpan) -> int | None:
    return s.parent.span_id if s.parent is not None else None


def span_id(s: ReadableSpan) -> int:
    return s.context.span_id


@trace(name="count")
def count(n: int):
    yield from range(n)


# --- output, return value, exhaustion ---------------------------------------------------------


def test_output_is_the_yielded_items_and_the_span_ends_on_exhaustion(exporter):
    assert list(count(3)) == [0, 1, 2]
    s = by_name(exporter.get_finished_spans(), "count")
    assert output_of(s) == [0, 1, 2]
    assert json.loads(s.attributes["respan.input"]) == {"n": 3}
    assert s.status.status_code is StatusCode.UNSET
    assert "respan.end_reason" not in s.attributes


def test_an_empty_generator_records_an_empty_list(exporter):
    assert list(count(0)) == []
    assert output_of(by_name(exporter.get_finished_spans(), "count")) == []


def test_decorated_generator_function_is_still_a_generator_function():
    assert inspect.isgeneratorfunction(count)


def test_never_iterated_generator_produces_no_span(exporter):
    gen = count(3)
    del gen
    gc.collect()
    closed = count(3)
    closed.close()
    assert exporter.get_finished_spans() == ()


def test_the_span_starts_at_the_first_step_not_at_creation(exporter):
    gen = count(2)
    assert exporter.get_finished_spans() == ()
    assert next(gen) == 0
    assert exporter.get_finished_spans() == ()
    assert list(gen) == [1]
    assert len(exporter.get_finished_spans()) == 1


def test_return_value_passes_through_stop_iteration(exporter):
    @trace(name="ret")
    def ret():
        yield 1
        return "done"

    gen = ret()
    assert next(gen) == 1
    with pytest.raises(StopIteration) as info:
        next(gen)
    assert info.value.value == "done"
    assert output_of(by_name(exporter.get_finished_spans(), "ret")) == [1]


def test_yield_from_a_traced_generator_gets_its_return_value(exporter):
    @trace(name="inner")
    def inner():
        yield "a"
        yield "b"
        return 42

    def outer():
        result = yield from inner()
        yield result

    assert list(outer()) == ["a", "b", 42]
    s = by_name(exporter.get_finished_spans(), "inner")
    assert output_of(s) == ["a", "b"]
    assert s.status.status_code is StatusCode.UNSET


def test_yield_from_forwards_send_to_the_traced_generator(exporter):
    @trace(name="echo")
    def echo():
        received = []
        while len(received) < 2:
            received.append((yield len(received)))
        return received

    def outer():
        result = yield from echo()
        yield result

    gen = outer()
    assert next(gen) == 0
    assert gen.send("x") == 1
    assert gen.send("y") == ["x", "y"]
    gen.close()
    assert output_of(by_name(exporter.get_finished_spans(), "echo")) == [0, 1]


# --- send / throw, side by side with the undecorated generator --------------------------------


def accumulator():
    total = 0
    while True:
        value = yield total
        if value is None:
            return total
        total += value


def resilient():
    for i in range(3):
        try:
            yield i
        except KeyError as exc:
            yield f"caught {exc.args[0]}"


def fragile():
    yield 1
    yield 2


def test_send_behaves_as_on_the_undecorated_generator(exporter):
    def drive(gen):
        seen = [next(gen), gen.send(1), gen.send(2), gen.send(3)]
        with pytest.raises(StopIteration) as info:
            gen.send(None)
        return seen, info.value.value

    assert drive(trace(name="acc")(accumulator)()) == drive(accumulator()) == ([0, 1, 3, 6], 6)
    s = by_name(exporter.get_finished_spans(), "acc")
    assert output_of(s) == [0, 1, 3, 6]
    assert s.status.status_code is StatusCode.UNSET


def test_sending_a_value_to_a_just_started_generator_fails_the_same_way():
    with pytest.raises(TypeError) as plain:
        accumulator().send(5)
    with pytest.raises(TypeError) as traced:
        trace(accumulator)().send(5)
    assert str(traced.value) == str(plain.value)


def test_throw_that_the_generator_catches_behaves_as_undecorated(exporter):
    def drive(gen):
        seen = [next(gen), gen.throw(KeyError("k")), next(gen), next(gen)]
        seen.extend(gen)
        return seen

    assert drive(trace(name="resilient")(resilient)()) == drive(resilient())
    assert drive(resilient()) == [0, "caught k", 1, 2]
    s = by_name(exporter.get_finished_spans(), "resilient")
    assert output_of(s) == [0, "caught k", 1, 2]
    assert s.status.status_code is StatusCode.UNSET


def test_throw_that_the_generator_does_not_catch_behaves_as_undecorated(exporter):
    def drive(gen):
        assert next(gen) == 1
        error = BoomError("thrown in")
        with pytest.raises(BoomError) as info:
            gen.throw(error)
        assert info.value is error
        frames = [f.name for f in traceback.extract_tb(info.value.__traceback__)]
        assert "fragile" in frames
        with pytest.raises(StopIteration):
            next(gen)

    drive(fragile())
    drive(trace(name="fragile")(fragile)())
    s = by_name(exporter.get_finished_spans(), "fragile")
    assert s.status.status_code is StatusCode.ERROR
    assert s.attributes["error.type"] == BOOM_TYPE
    assert output_of(s) == [1]
    [event] = s.events
    assert event.name == "exception"
    assert event.attributes["exception.message"] == "thrown in"


def test_throw_that_the_generator_turns_into_a_return_behaves_as_undecorated(exporter):
    def recovering():
        try:
            yield 1
        except KeyError:
            return "recovered"

    def drive(gen):
        next(gen)
        with pytest.raises(StopIteration) as info:
            gen.throw(KeyError("k"))
        return info.value.value

    assert drive(recovering()) == drive(trace(name="recovering")(recovering)()) == "recovered"
    s = by_name(exporter.get_finished_spans(), "recovering")
    assert s.status.status_code is StatusCode.UNSET
    assert output_of(s) == [1]


def test_works_under_contextmanager_including_exceptions_in_the_block(exporter):
    @contextmanager
    @trace(name="managed")
    def managed(suppress: bool):
        try:
            yield "resource"
        except BoomError:
            if not suppress:
                raise

    with managed(False) as resource:
        assert resource == "resource"
    error = BoomError("in the with block")
    with pytest.raises(BoomError) as info, managed(False):
        raise error
    assert info.value is error
    with managed(True):
        raise BoomError("suppressed")

    ok, failed, suppressed = exporter.get_finished_spans()
    assert ok.status.status_code is StatusCode.UNSET
    assert output_of(ok) == ["resource"]
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.attributes["error.type"] == BOOM_TYPE
    assert suppressed.status.status_code is StatusCode.UNSET


# --- errors -----------------------------------------------------------------------------------


def test_an_exception_in_the_body_is_recorded_and_reraised_unchanged(exporter):
    raised: list[BaseException] = []

    @trace(name="explode")
    def explode():
        yield 1
        error = BoomError("bad item")
        raised.append(error)
        raise error

    gen = explode()
    assert next(gen) == 1
    with pytest.raises(BoomError) as info:
        next(gen)
    assert info.value is raised[0]
    last = traceback.extract_tb(info.value.__traceback__)[-1]
    assert last.name == "explode"
    assert last.line == "raise error"

    s = by_name(exporter.get_finished_spans(), "explode")
    assert s.status.status_code is StatusCode.ERROR
    assert "bad item" in (s.status.description or "")
    assert s.attributes["error.type"] == BOOM_TYPE
    assert "respan.end_reason" not in s.attributes
    assert output_of(s) == [1]
    [event] = s.events
    assert event.name == "exception"
    assert event.attributes["exception.type"] == BOOM_TYPE
    assert event.attributes["exception.message"] == "bad item"


def test_an_exception_before_the_first_yield_still_records_a_span(exporter):
    @trace(name="early")
    def early():
        raise BoomError("at once")
        yield  # pragma: no cover

    with pytest.raises(BoomError, match="at once"):
        next(early())
    s = by_name(exporter.get_finished_spans(), "early")
    assert s.status.status_code is StatusCode.ERROR
    assert output_of(s) == []


def test_an_exception_raised_while_closing_still_ends_the_span(exporter):
    """The generator's own cleanup fails during close(): the span must not be lost."""

    def bad_cleanup():
        try:
            yield 1
            yield 2
        finally:
            raise BoomError("cleanup failed")

    plain = bad_cleanup()
    next(plain)
    with pytest.raises(BoomError):
        plain.close()

    gen = trace(name="bad_cleanup")(bad_cleanup)()
    assert next(gen) == 1
    with pytest.raises(BoomError, match="cleanup failed"):
        gen.close()
    s = by_name(exporter.get_finished_spans(), "bad_cleanup")
    assert s.status.status_code is StatusCode.ERROR
    assert s.attributes["error.type"] == BOOM_TYPE
    assert output_of(s) == [1]


# --- early exits: break, close, islice, garbage collection ------------------------------------


def make_stream(log: list[str]):
    @trace(name="stream")
    def stream():
        try:
            yield from range(10)
        finally:
            log.append("body finally")

    return stream


def assert_closed(s: ReadableSpan, items: list[int]) -> None:
    assert s.attributes["respan.end_reason"] == "closed"
    assert s.status.status_code is not StatusCode.ERROR
    assert "error.type" not in s.attributes
    assert s.events == ()
    assert output_of(s) == items


def test_break_ends_the_span_at_once_as_closed(exporter):
    log: list[str] = []
    for item in make_stream(log)():
        if item == 2:
            break
    assert log == ["body finally"]
    assert_closed(by_name(exporter.get_finished_spans(), "stream"), [0, 1, 2])


def test_close_ends_the_span_and_later_next_stops(exporter):
    log: list[str] = []
    gen = make_stream(log)()
    assert [next(gen), next(gen)] == [0, 1]
    gen.close()
    assert log == ["body finally"]
    assert_closed(by_name(exporter.get_finished_spans(), "stream"), [0, 1])
    with pytest.raises(StopIteration):
        next(gen)
    gen.close()
    assert len(exporter.get_finished_spans()) == 1


def test_islice_takes_a_prefix_and_the_span_ends_with_it(exporter):
    log: list[str] = []
    assert list(itertools.islice(make_stream(log)(), 3)) == [0, 1, 2]
    assert log == ["body finally"]
    assert_closed(by_name(exporter.get_finished_spans(), "stream"), [0, 1, 2])


def test_garbage_collection_of_a_half_consumed_generator_ends_the_span(exporter):
    log: list[str] = []
    gen = make_stream(log)()
    assert [next(gen), next(gen), next(gen)] == [0, 1, 2]
    cycle: dict[str, Any] = {"gen": gen}
    cycle["self"] = cycle  # only the cyclic collector can free it
    del gen, cycle
    assert exporter.get_finished_spans() == ()
    gc.collect()
    assert log == ["body finally"]
    assert_closed(by_name(exporter.get_finished_spans(), "stream"), [0, 1, 2])


def test_garbage_collection_in_another_thread_leaves_no_span_current(exporter):
    log: list[str] = []
    gen = make_stream(log)()
    next(gen)
    holder = [gen]
    del gen

    def drop() -> object:
        holder.clear()  # last reference: the generator is finalized in this thread
        return otel_trace.get_current_span()

    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(drop).result() is otel_trace.INVALID_SPAN
    assert log == ["body finally"]
    assert_closed(by_name(exporter.get_finished_spans(), "stream"), [0])


# --- context: parentage, what is current where ------------------------------------------------


def test_spans_opened_in_the_body_are_children_of_the_generators_span(exporter, tracer):
    @trace(name="child")
    def child(x: int) -> int:
        return x

    @trace(name="gen")
    def gen():
        yield child(1)
        with tracer.start_as_current_span("foreign"):
            pass
        yield child(2)

    with tracer.start_as_current_span("consumer"):
        assert list(gen()) == [1, 2]
    spans = exporter.get_finished_spans()
    consumer, gen_span = by_name(spans, "consumer"), by_name(spans, "gen")
    children = [s for s in spans if s.name in ("child", "foreign")]
    assert len(children) == 3
    assert parent_id(gen_span) == span_id(consumer)
    assert all(parent_id(c) == span_id(gen_span) for c in children)
    assert {s.context.trace_id for s in spans} == {consumer.context.trace_id}


def test_the_generators_span_is_current_only_inside_the_body(exporter, tracer):
    inside: list[object] = []

    @trace(name="gen")
    def gen():
        for i in range(3):
            inside.append(otel_trace.get_current_span())
            yield i

    between: list[object] = []
    with tracer.start_as_current_span("consumer") as consumer:
        for _ in gen():
            between.append(otel_trace.get_current_span())
        after = otel_trace.get_current_span()
    assert between == [consumer, consumer, consumer]
    assert after is consumer
    gen_span_id = span_id(by_name(exporter.get_finished_spans(), "gen"))
    assert [s.get_span_context().span_id for s in inside] == [gen_span_id] * 3


def test_nested_traced_generators_nest_their_spans(exporter):
    @trace(name="inner_gen")
    def inner_gen():
        yield from range(2)

    @trace(name="outer_gen")
    def outer_gen():
        for x in inner_gen():
            yield x * 10

    assert list(outer_gen()) == [0, 10]
    spans = exporter.get_finished_spans()
    outer, inner = by_name(spans, "outer_gen"), by_name(spans, "inner_gen")
    assert parent_id(inner) == span_id(outer)
    assert parent_id(outer) is None
    assert output_of(inner) == [0, 1]
    assert output_of(outer) == [0, 10]


def test_created_under_a_span_consumed_in_a_plain_worker_thread_keeps_its_parent(exporter, tracer):
    @trace(name="gen")
    def gen():
        with tracer.start_as_current_span("in_body"):
            pass
        yield 1
        yield 2

    with tracer.start_as_current_span("creator"):
        made = gen()
    with ThreadPoolExecutor(1) as pool:  # a plain pool: the worker has an empty context
        assert pool.submit(list, made).result() == [1, 2]
    spans = exporter.get_finished_spans()
    creator, gen_span = by_name(spans, "creator"), by_name(spans, "gen")
    assert parent_id(gen_span) == span_id(creator)
    assert gen_span.context.trace_id == creator.context.trace_id
    assert parent_id(by_name(spans, "in_body")) == span_id(gen_span)


def test_half_consumed_here_and_finished_in_another_thread(exporter, tracer):
    with tracer.start_as_current_span("creator"):
        gen = count(4)
        assert next(gen) == 0
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(list, gen).result() == [1, 2, 3]
    spans = exporter.get_finished_spans()
    s = by_name(spans, "count")
    assert output_of(s) == [0, 1, 2, 3]
    assert parent_id(s) == span_id(by_name(spans, "creator"))


def test_propagated_values_come_from_where_the_generator_was_created(exporter):
    with propagate(session_id="sess-gen", metadata={"tenant": "acme"}):
        gen = count(1)
    assert list(gen) == [0]
    attributes = by_name(exporter.get_finished_spans(), "count").attributes
    assert attributes["respan.session_id"] == "sess-gen"
    assert json.loads(attributes["respan.metadata"]) == {"tenant": "acme"}


def test_the_bodys_own_context_survives_its_yields(exporter, tracer):
    """A block opened in the body and spanning a yield stays current after the yield.

    Undecorated, ``leaf`` is a child of ``block``; decorating must not change that.
    """

    def body():
        with tracer.start_as_current_span("block"):
            yield 1
            with tracer.start_as_current_span("leaf"):
                pass
            yield 2

    assert list(body()) == [1, 2]
    spans = exporter.get_finished_spans()
    assert parent_id(by_name(spans, "leaf")) == span_id(by_name(spans, "block"))
    exporter.clear()

    assert list(trace(name="gen")(body)()) == [1, 2]
    spans = exporter.get_finished_spans()
    assert parent_id(by_name(spans, "leaf")) == span_id(by_name(spans, "block"))
    assert parent_id(by_name(spans, "block")) == span_id(by_name(spans, "gen"))


def test_a_span_block_across_a_yield_survives_a_change_of_thread(exporter, caplog):
    """The body's ``with span(...)`` is exited in another thread than it was entered in."""

    @trace(name="gen")
    def gen():
        with span("block"):
            yield 1
            yield 2

    made = gen()
    assert next(made) == 1
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(list, made).result() == [2]
    assert log_problems(caplog.records) == []
    spans = exporter.get_finished_spans()
    assert parent_id(by_name(spans, "block")) == span_id(by_name(spans, "gen"))


def test_update_current_span_in_the_body_reaches_the_generators_span(exporter):
    @trace(name="gen")
    def gen():
        yield "a"
        update_current_span(output="summary", metadata={"model": "m1"})
        yield "b"

    assert list(gen()) == ["a", "b"]
    s = by_name(exporter.get_finished_spans(), "gen")
    assert output_of(s) == "summary"
    assert json.loads(s.attributes["respan.metadata"]) == {"model": "m1"}


def test_many_threads_each_consuming_their_own_generator(exporter, tracer):
    barrier = threading.Barrier(4)

    def consume(i: int) -> list[int]:
        with tracer.start_as_current_span(f"consumer-{i}"):
            barrier.wait()
            return list(count(i + 1))

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(consume, range(4))) == [list(range(i + 1)) for i in range(4)]
    spans = exporter.get_finished_spans()
    for i in range(4):
        consumer = by_name(spans, f"consumer-{i}")
        [mine] = [s for s in spans if s.name == "count" and parent_id(s) == span_id(consumer)]
        assert output_of(mine) == list(range(i + 1))


# --- output bounds and hooks ------------------------------------------------------------------


def test_output_is_capped_by_item_count_with_a_marker(exporter):
    set_capture_settings(CaptureSettings(max_stream_items=5))
    assert list(count(12)) == list(range(12))
    assert output_of(by_name(exporter.get_finished_spans(), "count")) == [
        0,
        1,
        2,
        3,
        4,
        {"_truncated": 7},
    ]


def test_exactly_the_cap_has_no_marker(exporter):
    set_capture_settings(CaptureSettings(max_stream_items=5))
    assert list(count(5)) == list(range(5))
    assert output_of(by_name(exporter.get_finished_spans(), "count")) == [0, 1, 2, 3, 4]


def test_output_is_capped_by_bytes_with_a_marker(exporter):
    set_capture_settings(CaptureSettings(max_field_bytes=300))

    @trace(name="big")
    def big():
        for i in range(20):
            yield f"{i:02d}" + "x" * 48

    items = list(big())
    raw = by_name(exporter.get_finished_spans(), "big").attributes["respan.output"]
    assert len(raw.encode()) <= 300
    output = json.loads(raw)
    *kept, marker = output
    assert 1 <= len(kept) < 20
    assert kept == items[: len(kept)]
    assert marker == {"_truncated": 20 - len(kept)}


def test_process_output_receives_the_items(exporter):
    received: list[Any] = []

    def join(items):
        received.append(items)
        return "".join(items)

    @trace(name="tokens", process_output=join)
    def tokens():
        yield from ["Hel", "lo", " world"]

    assert list(tokens()) == ["Hel", "lo", " world"]
    assert received == [["Hel", "lo", " world"]]
    assert output_of(by_name(exporter.get_finished_spans(), "tokens")) == "Hello world"


def test_items_are_recorded_as_they_were_when_yielded(exporter):
    @trace(name="growing")
    def growing():
        buffer: list[str] = []
        for char in "abc":
            buffer.append(char)
            yield buffer

    items = list(growing())
    assert items[0] is items[2]  # one list, mutated after each yield
    assert items[0] == ["a", "b", "c"]
    assert output_of(by_name(exporter.get_finished_spans(), "growing")) == [
        ["a"],
        ["a", "b"],
        ["a", "b", "c"],
    ]


def test_generator_method_input_leaves_out_self(exporter):
    class Source:
        @trace(name="rows")
        def rows(self, limit: int):
            yield from range(limit)

    assert list(Source().rows(2)) == [0, 1]
    s = by_name(exporter.get_finished_spans(), "rows")
    assert json.loads(s.attributes["respan.input"]) == {"limit": 2}


def test_capture_output_false_records_no_output_but_still_ends(exporter):
    @trace(name="quiet", capture_output=False)
    def quiet():
        yield 1

    assert list(quiet()) == [1]
    assert "respan.output" not in by_name(exporter.get_finished_spans(), "quiet").attributes


# --- output: kept items encoded at the end write what item-by-item encoding writes -----------

_json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),  # NaN and infinities take the general way
    st.text(max_size=20),
    st.text(min_size=100, max_size=400),
)
_stream_items = st.recursive(
    st.one_of(_json_leaves, st.sampled_from([{1, 2}, b"raw", 3 + 4j])),  # some not plain
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(
            st.one_of(st.text(max_size=8), st.sampled_from(["api_key", "password"])),
            inner,
            max_size=4,
        ),
    ),
    max_leaves=12,
)


def _item_by_item(items: list[Any], max_bytes: int, max_items: int) -> str:
    """The output as recorded by serializing each item when yielded (the reference)."""
    redactor = get_redactor(CaptureSettings().redact_keys)
    fragments: list[str] = []
    size, dropped = 2, 0
    for item in items:
        if dropped or len(fragments) >= max_items:
            dropped += 1
            continue
        fragment = dumps(item, max_bytes=max_bytes, redactor=redactor)
        fragment_size = len(fragment.encode()) + 1
        if size + fragment_size > max_bytes - 32:
            dropped += 1
        else:
            fragments.append(fragment)
            size += fragment_size
    if dropped:
        fragments.append(f'{{"_truncated":{dropped}}}')
    return "[" + ",".join(fragments) + "]"


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    items=st.lists(_stream_items, max_size=30),
    max_bytes=st.sampled_from([256, 1_000, 4_096, 131_072]),
    max_items=st.sampled_from([3, 1_000]),
)
def test_output_is_what_encoding_each_item_when_yielded_gives(
    exporter, items, max_bytes, max_items
):
    set_capture_settings(CaptureSettings(max_field_bytes=max_bytes, max_stream_items=max_items))
    exporter.clear()
    as_yielded: list[Any] = []

    @trace(name="mixed")
    def mixed():
        for item in items:
            as_yielded.append(copy.deepcopy(item))
            yield item
            if isinstance(item, list):  # mutated after the yield: must not show
                item.append("later")
            elif isinstance(item, dict):
                item["later"] = True

    for _ in mixed():
        pass
    raw = by_name(exporter.get_finished_spans(), "mixed").attributes["respan.output"]
    assert raw == _item_by_item(as_yielded, max_bytes, max_items)
    assert len(raw.encode()) <= max_bytes


def test_a_str_item_with_a_lone_surrogate_is_recorded_not_lost(exporter, caplog):
    @trace(name="odd-text")
    def odd_text():
        yield "a\ud800b"
        yield "c"

    assert list(odd_text()) == ["a\ud800b", "c"]
    assert output_of(by_name(exporter.get_finished_spans(), "odd-text")) == ["a\ufffdb", "c"]
    assert log_problems(caplog.records) == []
