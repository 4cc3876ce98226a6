"""OTLP decoding: what the stock encoder writes comes back as the same ReadableSpan."""

from __future__ import annotations

import pytest
from opentelemetry import trace as otel_trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.status import Status, StatusCode

from respan_otel.gateway._decode import (
    JSON,
    PROTOBUF,
    BadRequestError,
    UnsupportedMediaError,
    media_type,
    parse_request,
    to_spans,
)


def roundtrip(spans):
    body = encode_spans(spans).SerializeToString()
    return list(to_spans(parse_request(body, PROTOBUF)))


def test_every_field_the_mapping_reads_survives(tracer, exporter):
    remote = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(1))
    with tracer.start_as_current_span(
        "call",
        context=otel_trace.set_span_in_context(NonRecordingSpan(remote)),
        kind=SpanKind.CLIENT,
        links=[Link(remote, {"why": "retry"})],
        attributes={
            "text": "x",
            "flag": True,
            "count": 3,
            "ratio": 0.5,
            "tags": ["a", "b"],
        },
    ) as outer:
        outer.add_event("gen_ai.choice", {"index": 0, "message": "hi"}, timestamp=123)
        outer.set_status(Status(StatusCode.ERROR, "bad"))
        with tracer.start_as_current_span("inner", kind=SpanKind.CONSUMER):
            pass
    original = {span.name: span for span in exporter.get_finished_spans()}
    decoded = {span.name: span for span in roundtrip(list(original.values()))}
    for name, span in original.items():
        back = decoded[name]
        assert back.context.trace_id == span.context.trace_id
        assert back.context.span_id == span.context.span_id
        assert back.parent.span_id == span.parent.span_id
        assert back.parent.is_remote == span.parent.is_remote
        assert back.kind == span.kind
        assert back.status.status_code == span.status.status_code
        assert back.status.description == span.status.description
        assert dict(back.attributes) == {
            key: tuple(value) if isinstance(value, (list, tuple)) else value
            for key, value in span.attributes.items()
        }
        assert (back.start_time, back.end_time) == (span.start_time, span.end_time)
        assert dict(back.resource.attributes) == dict(span.resource.attributes)
        assert back.instrumentation_scope.name == span.instrumentation_scope.name
        assert [(e.name, dict(e.attributes), e.timestamp) for e in back.events] == [
            (e.name, dict(e.attributes), e.timestamp) for e in span.events
        ]
    assert decoded["call"].parent.is_remote is True
    assert decoded["inner"].parent.is_remote is False
    assert decoded["call"].links[0].context.span_id == 0xDEF
    assert dict(decoded["call"].links[0].attributes) == {"why": "retry"}


def test_a_root_has_no_parent(tracer, exporter):
    with tracer.start_as_current_span("root"):
        pass
    (back,) = roundtrip(exporter.get_finished_spans())
    assert back.parent is None


def test_content_types_and_bad_bodies():
    assert media_type("application/x-protobuf") == PROTOBUF
    assert media_type("application/json; charset=utf-8") == JSON
    with pytest.raises(UnsupportedMediaError):
        media_type("text/plain")
    with pytest.raises(BadRequestError):
        parse_request(b"[1, 2]", JSON)
    with pytest.raises(BadRequestError, match="not hex"):
        parse_request(b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}', JSON)
