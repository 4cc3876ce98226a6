"""OTLP/HTTP trace bodies in, SDK ``ReadableSpan``s out, with the official protobuf types.

A body is read once, when it arrives (:func:`parse_request`: gzip, protobuf or JSON, to
an ``ExportTraceServiceRequest``), and journalled as protobuf. The delivery side turns
it into ``ReadableSpan``s (:func:`to_spans`) carrying everything the in-process exporter
would see: resource, scope, parent (local or remote), kind, status, events, links and
attributes, so :class:`~respan_otel._export._rows.RowBuilder` makes the same rows.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Iterator
from typing import Any, Final

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, TraceFlags, TraceState
from opentelemetry.trace.status import Status, StatusCode

PROTOBUF: Final = "application/x-protobuf"
JSON: Final = "application/json"

# SpanFlags bits 8 and 9: whether the parent's remoteness is known, and whether it is remote
_HAS_IS_REMOTE: Final = 0x100
_IS_REMOTE: Final = 0x200
_ID_FIELDS: Final = ("traceId", "spanId", "parentSpanId")


class BadRequestError(ValueError):
    """The body is not an OTLP trace request this gateway can read (answered with 400)."""


class UnsupportedMediaError(ValueError):
    """Content type or encoding the gateway does not speak (answered with 415)."""


class TooLargeError(ValueError):
    """The body, once decompressed, is over the cap (answered with 413)."""


def decompress(body: bytes, encoding: str, *, max_bytes: int) -> bytes:
    """Undo ``Content-Encoding`` (identity or gzip), never inflating past ``max_bytes``."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding != "gzip":
        raise UnsupportedMediaError(f"Content-Encoding {encoding!r} is not supported; use gzip")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)  # 16+: expect a gzip header
    try:
        plain = inflater.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise BadRequestError(f"the gzip body is corrupt: {exc}") from None
    if len(plain) > max_bytes:
        raise TooLargeError(f"the body inflates past {max_bytes} bytes")
    if not inflater.eof:
        raise BadRequestError("the gzip body is truncated")
    return plain


def media_type(content_type: str) -> str:
    """``application/x-protobuf`` or ``application/json`` from a Content-Type header."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind in (PROTOBUF, JSON):
        return kind
    raise UnsupportedMediaError(
        f"Content-Type {kind or '(none)'!r} is not OTLP/HTTP; send {PROTOBUF} or {JSON}"
    )


def parse_request(body: bytes, kind: str) -> ExportTraceServiceRequest:
    """Parse an OTLP trace export body of media type ``kind``."""
    request = ExportTraceServiceRequest()
    if kind == PROTOBUF:
        try:
            request.ParseFromString(body)
        except DecodeError as exc:
            raise BadRequestError(f"not an OTLP protobuf trace request: {exc}") from None
        return request
    try:
        document = json.loads(body)
        json_format.ParseDict(_ids_to_base64(document), request, ignore_unknown_fields=True)
    except (ValueError, json_format.ParseError, TypeError, AttributeError) as exc:
        raise BadRequestError(f"not an OTLP JSON trace request: {exc}") from None
    return request


def _ids_to_base64(document: Any) -> Any:
    """OTLP/JSON writes trace and span ids as hex; protobuf's JSON mapping wants base64."""
    if not isinstance(document, dict):
        raise BadRequestError("an OTLP JSON body is an object")
    for resource_spans in document.get("resourceSpans") or ():
        for scope_spans in resource_spans.get("scopeSpans") or ():
            for span in scope_spans.get("spans") or ():
                _convert_ids(span)
                for link in span.get("links") or ():
                    _convert_ids(link)
    return document


def _convert_ids(holder: dict[str, Any]) -> None:
    for name in _ID_FIELDS:
        value = holder.get(name)
        if isinstance(value, str) and value:
            try:
                holder[name] = base64.b64encode(bytes.fromhex(value)).decode()
            except ValueError:
                raise BadRequestError(f"{name} {value!r} is not hex") from None


def span_count(request: ExportTraceServiceRequest) -> int:
    return sum(
        len(scope.spans) for resource in request.resource_spans for scope in resource.scope_spans
    )


def to_spans(request: ExportTraceServiceRequest) -> Iterator[ReadableSpan]:
    """The request's spans as SDK ``ReadableSpan``s, in the order they were sent."""
    for resource_spans in request.resource_spans:
        resource = Resource(
            _attributes(resource_spans.resource.attributes), resource_spans.schema_url or None
        )
        for scope_spans in resource_spans.scope_spans:
            scope = InstrumentationScope(
                scope_spans.scope.name,
                scope_spans.scope.version or None,
                scope_spans.schema_url or None,
                _attributes(scope_spans.scope.attributes),
            )
            for span in scope_spans.spans:
                yield _span(span, resource, scope)


def _span(span: PbSpan, resource: Resource, scope: InstrumentationScope) -> ReadableSpan:
    trace_id = int.from_bytes(span.trace_id, "big")
    trace_state = TraceState.from_header([span.trace_state]) if span.trace_state else None
    flags = TraceFlags(span.flags & 0xFF or TraceFlags.SAMPLED)
    context = SpanContext(trace_id, _id(span.span_id), False, flags, trace_state)
    parent = None
    if span.parent_span_id:
        remote = bool(span.flags & _HAS_IS_REMOTE and span.flags & _IS_REMOTE)
        parent = SpanContext(trace_id, _id(span.parent_span_id), remote, flags)
    return ReadableSpan(
        name=span.name,
        context=context,
        parent=parent,
        resource=resource,
        attributes=_attributes(span.attributes),
        events=[
            Event(event.name, _attributes(event.attributes), event.time_unix_nano)
            for event in span.events
        ],
        links=[_link(link) for link in span.links],
        # proto kinds start with UNSPECIFIED = 0; the SDK's with INTERNAL = 0
        kind=SpanKind(max(span.kind - 1, 0)),
        status=Status(StatusCode(span.status.code), span.status.message or None),
        start_time=span.start_time_unix_nano,
        end_time=span.end_time_unix_nano,
        instrumentation_scope=scope,
    )


def _link(link: PbSpan.Link) -> Link:
    remote = bool(link.flags & _HAS_IS_REMOTE and link.flags & _IS_REMOTE)
    context = SpanContext(
        int.from_bytes(link.trace_id, "big"),
        _id(link.span_id),
        remote,
        TraceFlags(link.flags & 0xFF),
        TraceState.from_header([link.trace_state]) if link.trace_state else None,
    )
    return Link(context, _attributes(link.attributes))


def _id(raw: bytes) -> int:
    return int.from_bytes(raw, "big")


def _attributes(pairs: Any) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs}


def _value(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return tuple(_value(item) for item in value.array_value.values)
    if which == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    return getattr(value, which)
