"""propagate(): ids and metadata reach every span opened inside it, ours and foreign."""

from __future__ import annotations

import asyncio
import json

import pytest

from respan_otel import propagate, span, trace
from tests.conftest import by_name

IDS = {
    "session_id": "sess-1",
    "customer_identifier": "cust-9",
    "thread_identifier": "thr-3",
    "custom_identifier": "run-7",
}


def test_ids_and_metadata_land_on_our_spans_and_foreign_spans(exporter, tracer):
    @trace(name="ours", metadata={"site": "call"})
    def ours():
        with tracer.start_as_current_span("foreign"):
            pass

    with propagate(**IDS, metadata={"tenant": "acme"}):
        ours()
    spans = exporter.get_finished_spans()
    for name, metadata in (
        ("ours", {"tenant": "acme", "site": "call"}),
        ("foreign", {"tenant": "acme"}),
    ):
        attributes = by_name(spans, name).attributes
        assert {k: attributes[f"respan.{k}"] for k in IDS} == IDS
        assert json.loads(attributes["respan.metadata"]) == metadata


def test_nothing_is_stamped_outside_the_block(exporter, tracer):
    with propagate(session_id="inside"):
        pass
    with tracer.start_as_current_span("after"):
        pass
    assert "respan.session_id" not in by_name(exporter.get_finished_spans(), "after").attributes


def test_nested_blocks_merge(exporter):
    with propagate(session_id="outer", metadata={"a": 1, "b": 1}):
        with propagate(customer_identifier="c", metadata={"b": 2}), span("inner"):
            pass
        with span("outer_only"):
            pass
    spans = exporter.get_finished_spans()
    inner = by_name(spans, "inner").attributes
    assert inner["respan.session_id"] == "outer"
    assert inner["respan.customer_identifier"] == "c"
    assert json.loads(inner["respan.metadata"]) == {"a": 1, "b": 2}
    outer_only = by_name(spans, "outer_only").attributes
    assert "respan.customer_identifier" not in outer_only
    assert json.loads(outer_only["respan.metadata"]) == {"a": 1, "b": 1}


def test_decorator_on_sync_async_and_generator_functions(exporter):
    @propagate(session_id="deco")
    def sync_fn():
        with span("sync_inner"):
            return 1

    @propagate(session_id="deco")
    async def async_fn():
        await asyncio.sleep(0)
        with span("async_inner"):
            return 2

    @propagate(session_id="deco")
    def gen_fn():
        with span("gen_inner"):
            pass
        yield 3

    @propagate(session_id="deco")
    async def agen_fn():
        with span("agen_inner"):
            pass
        yield 4

    async def consume():
        return [x async for x in agen_fn()]

    assert sync_fn() == 1
    assert asyncio.run(async_fn()) == 2
    assert list(gen_fn()) == [3]
    assert asyncio.run(consume()) == [4]
    spans = exporter.get_finished_spans()
    for name in ("sync_inner", "async_inner", "gen_inner", "agen_inner"):
        assert by_name(spans, name).attributes["respan.session_id"] == "deco"


async def test_values_follow_asyncio_tasks(exporter):
    async def child(i):
        await asyncio.sleep(0)
        with span(f"task{i}"):
            pass

    async with propagate(thread_identifier="t-async"):
        await asyncio.gather(*(child(i) for i in range(3)))
    spans = exporter.get_finished_spans()
    assert {
        by_name(spans, f"task{i}").attributes["respan.thread_identifier"] for i in range(3)
    } == {"t-async"}


def test_one_object_can_be_reentered(exporter):
    block = propagate(session_id="same")
    with block, block, span("twice"):
        pass
    with span("after"):
        pass
    spans = exporter.get_finished_spans()
    assert by_name(spans, "twice").attributes["respan.session_id"] == "same"
    assert "respan.session_id" not in by_name(spans, "after").attributes


def test_integer_ids_become_strings(exporter):
    with propagate(customer_identifier=42), span("s"):  # type: ignore[arg-type]
        pass
    assert (
        by_name(exporter.get_finished_spans(), "s").attributes["respan.customer_identifier"] == "42"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"session_id": ["a"]}, r"propagate\(session_id=...\) must be a str, got list"),
        ({"customer_identifier": True}, r"customer_identifier=...\) must be a str, got bool"),
        ({"metadata": "tenant=a"}, r"metadata=...\) must be a mapping, got str"),
    ],
)
def test_wrong_types_are_refused_with_a_clear_message(kwargs, message):
    with pytest.raises(TypeError, match=message):
        propagate(**kwargs)


def test_processor_added_to_a_users_own_provider(exporter):
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from respan_otel import PropagationSpanProcessor

    own_exporter = InMemorySpanExporter()
    own = TracerProvider()
    own.add_span_processor(PropagationSpanProcessor())
    own.add_span_processor(SimpleSpanProcessor(own_exporter))
    with propagate(session_id="mine"), own.get_tracer("app").start_as_current_span("x"):
        pass
    (finished,) = own_exporter.get_finished_spans()
    assert finished.attributes["respan.session_id"] == "mine"
