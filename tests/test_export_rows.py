"""What the exporter does with rows on their way to the request: our own JSON written
into the body as is (never parsed and encoded again), hand-set attributes that are not
strict JSON still making a valid request, and rows sent with partial run totals counted
and told. Requests go over real sockets to a recording server on 127.0.0.1."""

from __future__ import annotations

import json
import logging
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanContext, TraceFlags

from respan_otel import RespanDatasetExporter, span
from respan_otel._export._encode import encode
from respan_otel._export._rows import RowBuilder
from respan_otel._export.conventions.respan import OwnJSON
from respan_otel._serialize import dumps
from tests.faulty_server import FaultyServer, RecordedRequest, Reply, json_reply

DATASET = "6d0b2c7e-3a6a-4c09-9c7e-1f2d9e2d3f0a"


def bulk_ok(request: RecordedRequest) -> Reply:
    count = len(request.json()["logs"])  # raises (and the test fails) on invalid JSON
    return json_reply(201, success_count=count, error_count=0, errors=[])


def exporter_for(url: str, **options: Any) -> RespanDatasetExporter:
    return RespanDatasetExporter(
        api_key="test-key", base_url=url, dataset_id=DATASET, requests_per_minute=0, **options
    )


def own_spans(attributes: list[dict[str, Any]], *, limit: int | None = None) -> list[ReadableSpan]:
    """Spans carrying our attributes as given (``limit``: the SDK's attribute length cap)."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(span_limits=SpanLimits(max_span_attribute_length=limit))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test")
    for i, extra in enumerate(attributes):
        tracer.start_span(f"s{i}", attributes={"respan.span.kind": "task", **extra}).end()
    return list(memory.get_finished_spans())


def test_our_json_is_written_into_the_request_as_our_serializer_wrote_it(exporter):
    with span("answer", kind="task", input={"q": "why?", "n": [1, 2.5]}) as handle:
        handle.set_output({"answer": "because", "ok": True})
    (finished,) = exporter.get_finished_spans()
    raw_input = finished.attributes["respan.input"]
    raw_output = finished.attributes["respan.output"]
    with FaultyServer(handler=bulk_ok) as server:
        exporter_for(server.url).export([finished])
        (request,) = server.requests
    assert f'"input":{raw_input},"output":{raw_output},'.encode() in request.body
    # the exporter's rows hold the text, not data parsed from it
    (row,) = RowBuilder(splice=True).build([finished]).rows
    assert type(row.body["input"]) is OwnJSON
    assert row.body["input"].raw == raw_input
    # and the bytes are those of the data encoded again
    (parsed,) = RowBuilder().build([finished]).rows
    assert encode(row.body) == encode(parsed.body)


def test_hand_set_text_that_is_not_strict_json_still_makes_a_valid_request():
    cut = dumps({"question": "x" * 100})  # our serializer's text, then cut by the SDK
    values = [
        '{"a": 1,',  # not JSON
        '{"n": NaN, "inf": -Infinity}',  # JSON strict readers refuse
        '{"big": 1e999}',  # a number no float holds
        '["\\ud800 lone"]',  # a lone surrogate, escaped
        cut,
        '{"spaced": [1, 2]}',  # valid JSON, written as is
    ]
    spans = own_spans([{"respan.input": value} for value in values], limit=40)
    with FaultyServer(handler=bulk_ok) as server:
        exporter_for(server.url).export(spans)
        (request,) = server.requests
    logs = json.loads(request.body)["logs"]  # a valid request
    inputs = [log["input"] for log in logs]
    assert inputs == [
        '{"a": 1,',
        {"n": "NaN", "inf": "-Infinity"},
        {"big": "1e999"},
        ["\ufffd lone"],
        cut[:40],
        {"spaced": [1, 2]},
    ]
    assert b'"input":{"spaced": [1, 2]}' in request.body


def test_before_send_receives_data_not_text():
    seen: list[Any] = []

    def hook(body: dict[str, Any]) -> dict[str, Any]:
        seen.append(body["input"])
        body["input"]["masked"] = True
        return body

    spans = own_spans([{"respan.input": '{"q":"hi"}'}])
    with FaultyServer(handler=bulk_ok) as server:
        exporter_for(server.url, before_send=hook).export(spans)
        (request,) = server.requests
    assert seen == [{"q": "hi", "masked": True}]
    assert json.loads(request.body)["logs"][0]["input"] == {"q": "hi", "masked": True}


def _context(trace_id: int, span_id: int) -> SpanContext:
    return SpanContext(trace_id, span_id, False, TraceFlags(1))


def test_rows_sent_with_partial_run_totals_are_counted_and_told(caplog):
    # more runs open at once than the totals may wait for: the first run's are let go
    runs = 10_001
    llm = {"openinference.span.kind": "LLM", "llm.token_count.prompt": 5}
    children = [
        ReadableSpan(
            name="llm",
            context=_context(run, 1_000_000 + run),
            parent=_context(run, run),
            attributes=llm,
            resource=Resource({}),
        )
        for run in range(1, runs + 1)
    ]
    root = ReadableSpan(
        name="run",
        context=_context(1, 1),
        attributes={"openinference.span.kind": "CHAIN", "input.value": "q"},
        resource=Resource({}),
    )
    with FaultyServer(handler=bulk_ok) as server, caplog.at_level(logging.WARNING):
        exporter = exporter_for(server.url, rows="roots")
        exporter.export(children)
        exporter.export([root])
        (request,) = server.requests
    (log,) = json.loads(request.body)["logs"]
    assert log["metadata"]["totals_incomplete"] is True
    assert exporter.stats.snapshot()["incomplete_totals"] == 1
    (line,) = [r.getMessage() for r in caplog.records if "run totals" in r.getMessage()]
    assert "1 rows were sent with only part of their run totals" in line
    assert "more than 10000 parent spans were waiting for them at once" in line  # the cause
    assert "end long-running parent spans sooner" in line  # the fix
