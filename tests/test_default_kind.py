"""The default kind (``task``) is not written on our spans; their rows still say ``task``.

One start attribute is about 5 % of a bare span, so ``@trace``/``span()`` write
``respan.span.kind`` only for the other kinds, and the mapping reads a span of the
``respan_otel`` tracer without one as a ``task`` — in process, and after an OTLP trip
through the gateway's decoder.
"""

from __future__ import annotations

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from respan_otel import span, trace
from respan_otel._export._rows import RowBuilder
from tests.conftest import by_name


def test_only_kinds_other_than_the_default_are_written(exporter: InMemorySpanExporter) -> None:
    @trace(capture_input=False, capture_output=False)
    def step() -> None:
        pass

    with span("retrieve", kind="retriever"):
        step()
    finished = exporter.get_finished_spans()
    assert "respan.span.kind" not in (by_name(finished, step.__qualname__).attributes or {})
    assert (by_name(finished, "retrieve").attributes or {})["respan.span.kind"] == "retriever"


def test_a_span_of_ours_without_a_kind_becomes_a_task_row(exporter: InMemorySpanExporter) -> None:
    # capture off and no metadata: the span carries no attribute at all, and still is a row
    @trace(capture_input=False, capture_output=False)
    def step() -> None:
        pass

    step()
    finished = by_name(exporter.get_finished_spans(), step.__qualname__)
    assert not finished.attributes
    (row,) = RowBuilder(rows="all").build([finished]).rows
    assert row.body["metadata"]["log_type"] == "task"


def test_the_same_row_after_otlp_and_the_gateways_decoder(exporter: InMemorySpanExporter) -> None:
    decode = pytest.importorskip("respan_otel.gateway._decode", reason="needs the gateway extra")

    @trace
    def answer(question: str) -> str:
        return question.upper()

    answer("why?")
    finished = by_name(exporter.get_finished_spans(), answer.__qualname__)
    (decoded,) = decode.to_spans(encode_spans([finished]))
    assert decoded.instrumentation_scope is not None
    assert decoded.instrumentation_scope.name == "respan_otel"
    (direct,) = RowBuilder(rows="all").build([finished]).rows
    (through,) = RowBuilder(rows="all").build([decoded]).rows
    assert through.body["metadata"]["log_type"] == direct.body["metadata"]["log_type"] == "task"
    assert through.body == direct.body


def test_a_foreign_span_without_a_kind_is_not_taken_for_ours(tracer) -> None:
    # another tracer's span without any marker is noise (an HTTP or DB span): no row
    foreign = tracer.start_span("GET /health")
    foreign.end()
    batch = RowBuilder(rows="all").build([foreign])  # type: ignore[list-item]
    assert batch.rows == []
    assert batch.not_rows["no-content"] == 1
