"""Finished spans as plain JSON records and back, so a test can replay real spans
(captured once from real instrumentations and our own ``@trace``) with fixed ids and
times. ``tests/test_rows_golden.py`` replays ``tests/data/rows_mix.json``."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags


def _value(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _attributes(record: dict[str, Any] | None) -> dict[str, Any]:
    # the SDK keeps sequences as tuples
    return {k: tuple(v) if isinstance(v, list) else v for k, v in (record or {}).items()}


def _context(context: SpanContext | None) -> list[Any] | None:
    if context is None:
        return None
    return [f"{context.trace_id:032x}", f"{context.span_id:016x}", context.is_remote]


def to_record(span: ReadableSpan) -> dict[str, Any]:
    return {
        "name": span.name,
        "context": _context(span.context),
        "parent": _context(span.parent),
        "kind": span.kind.name,
        "attributes": {k: _value(v) for k, v in (span.attributes or {}).items()},
        "events": [
            [e.name, e.timestamp, {k: _value(v) for k, v in (e.attributes or {}).items()}]
            for e in span.events
        ],
        "status": [span.status.status_code.name, span.status.description],
        "start": span.start_time,
        "end": span.end_time,
        "scope": span.instrumentation_scope.name if span.instrumentation_scope else None,
        "resource": dict(span.resource.attributes) if span.resource else {},
    }


def _span_context(found: list[Any] | None) -> SpanContext | None:
    if found is None:
        return None
    trace_id, span_id, remote = found
    return SpanContext(int(trace_id, 16), int(span_id, 16), remote, TraceFlags(1))


def from_record(record: dict[str, Any]) -> ReadableSpan:
    code, description = record["status"]
    scope = record["scope"]
    return ReadableSpan(
        name=record["name"],
        context=_span_context(record["context"]),
        parent=_span_context(record["parent"]),
        resource=Resource(record["resource"]),
        attributes=_attributes(record["attributes"]),
        events=[Event(name, _attributes(attrs), ts) for name, ts, attrs in record["events"]],
        kind=SpanKind[record["kind"]],
        status=Status(StatusCode[code], description),
        start_time=record["start"],
        end_time=record["end"],
        instrumentation_scope=InstrumentationScope(scope) if scope is not None else None,
    )
