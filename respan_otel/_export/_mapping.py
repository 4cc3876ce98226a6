"""Where one finished span becomes the body of one dataset row.

:func:`span_to_log` gives the Respan "unified format"::

    {"input": ..., "output": ..., "metadata": {...}, "metrics": {...},
     "start_time": ..., "timestamp": ..., "status_code": 200 | 500, "error_message": ...}

Input and output come from :mod:`respan_otel._export.conventions` (one module per
convention, one shape per kind of step); metadata and metrics come from :mod:`._fields`.
Which spans become rows, run totals, duplicates and cost: :mod:`._rows` (RowBuilder).
A span with no dataset content (plain HTTP or database spans) maps to ``None``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from respan_otel import _attributes as attrs
from respan_otel._export import _fields, conventions
from respan_otel._export.conventions import genai, openinference, respan, traceloop
from respan_otel._export.conventions._common import MISSING
from respan_otel._export.conventions._reader import Reader
from respan_otel._redact import Redactor

CONTENT_MARKERS: Final = frozenset(
    {
        attrs.KIND,
        attrs.INPUT,
        attrs.OUTPUT,
        genai.OPERATION,
        openinference.SPAN_KIND,
        traceloop.SPAN_KIND,
        traceloop.REQUEST_TYPE,
        respan.LOG_TYPE,
        genai.INPUT_MESSAGES,
        genai.OUTPUT_MESSAGES,
        openinference.INPUT_VALUE,
        openinference.OUTPUT_VALUE,
        traceloop.ENTITY_INPUT,
        traceloop.ENTITY_OUTPUT,
    }
)
"""Any of these makes a span dataset content. Propagated ids alone do not."""
FLAT_MARKERS: Final = (openinference.INPUT_MESSAGES, genai.PROMPT_PREFIX)

NO_INPUT: Final = ""
"""What a log carries as input when none was recorded: the API requires the field and
refuses ``null``, and an empty string says "nothing recorded" without inventing data."""


@dataclass(frozen=True, slots=True)
class MappedLog:
    """One dataset log, and the dataset it is meant for (``None``: the default one)."""

    dataset: str | None
    body: dict[str, Any]
    trace_id: int
    span_id: int


BeforeSend = Callable[[dict[str, Any]], "dict[str, Any] | None"]
"""Receives each log body; returns it (changed or not), or ``None`` to drop the log."""


def apply_before_send(
    mapped: MappedLog, before_send: BeforeSend | None
) -> tuple[MappedLog | None, str | None]:
    """The hook's verdict: the (changed) log, or ``None`` and ``"before-send"`` /
    ``"before-send-type"``. An exception from the hook propagates: the caller drops the
    log and reports it, so a masking hook can never be skipped."""
    if before_send is None:
        return mapped, None
    body = mapped.body
    for key in ("input", "output"):  # the hook sees data, never spliced text
        if key in body:
            body[key] = respan.native(body[key])
    changed = before_send(body)
    if changed is None:
        return None, "before-send"
    if not isinstance(changed, dict):
        return None, "before-send-type"
    return MappedLog(mapped.dataset, changed, mapped.trace_id, mapped.span_id), None


def select_log(
    span: ReadableSpan,
    *,
    only_root_spans: bool = False,
    redactor: Redactor | None = None,
    before_send: BeforeSend | None = None,
) -> tuple[MappedLog | None, str | None]:
    """One span on its own (no run totals, no row selection): prefer ``RowBuilder``."""
    if only_root_spans and not is_root(span):
        return None, "not-root"
    mapped = span_to_log(span, redactor=redactor)
    if mapped is None:
        return None, "no-content"
    return apply_before_send(mapped, before_send)


def has_dataset_content(span: ReadableSpan) -> bool:
    """Whether the span carries LLM/workflow content, as opposed to HTTP or DB noise."""
    return has_content(plain(span))


def plain(span: ReadableSpan) -> dict[str, Any]:
    """The span's attributes as a plain dict: one C-level copy, then fast lookups
    (the SDK's attribute mapping answers ``get`` in Python)."""
    attributes = span.attributes  # a property making a new proxy each time: read once
    found = dict(attributes) if attributes else {}
    scope = span.instrumentation_scope
    # @trace/span() leave the default kind unwritten (it is the costliest attribute to set)
    if attrs.KIND not in found and scope is not None and scope.name == attrs.TRACER_NAME:
        found[attrs.KIND] = attrs.DEFAULT_KIND
    return found


def has_content(attributes: Mapping[str, Any]) -> bool:
    if not CONTENT_MARKERS.isdisjoint(attributes):
        return True
    return any(key.startswith(FLAT_MARKERS) for key in attributes)


def is_root(span: ReadableSpan) -> bool:
    """No parent in this process: a local root, or the first span under a remote parent."""
    return span.parent is None or span.parent.is_remote


def span_to_log(span: ReadableSpan, *, redactor: Redactor | None = None) -> MappedLog | None:
    """Map a finished span to a dataset log, or ``None`` if it has no dataset content."""
    attributes = plain(span)
    if not has_content(attributes):
        return None
    return map_span(span, attributes, redactor)


def map_span(
    span: ReadableSpan,
    attributes: Mapping[str, Any],
    redactor: Redactor | None,
    kind: str | None = None,
    *,
    splice: bool = False,
) -> MappedLog:
    """The row body of a span known to carry content (``attributes``: :func:`plain`;
    ``kind``: its :func:`conventions.log_type`, when the caller has it already).
    With ``splice``, our own input/output JSON stays text (:class:`respan.OwnJSON`),
    for :func:`._encode.encode` to write as is: only for bodies that go nowhere else.

    ``redactor`` masks secrets in content read from other instrumentations' attributes;
    our own attributes were redacted when they were recorded.
    """
    reader = Reader(attributes, redactor)
    if kind is None:
        kind = conventions.log_type(attributes)
    step_input = respan.own_content(attributes, attrs.INPUT, splice=splice)
    output = respan.own_content(attributes, attrs.OUTPUT, splice=splice)
    if step_input is MISSING or output is MISSING:
        foreign_input, foreign_output = conventions.content(reader, kind)
        if step_input is MISSING and foreign_input is not MISSING:
            step_input = reader.clean(foreign_input)
        if output is MISSING and foreign_output is not MISSING:
            output = reader.clean(foreign_output)
    body: dict[str, Any] = {"input": NO_INPUT if step_input is MISSING else step_input}
    if output is not MISSING:
        body["output"] = output

    present = _fields.LOOKUP_KEYS.intersection(attributes)
    metadata = _fields.metadata(span, attributes, reader, kind, present)
    body["metadata"] = metadata
    body["metrics"] = _fields.metrics(span, attributes, reader, present)
    if span.start_time is not None:
        body["start_time"] = _fields.iso(span.start_time)
    if span.end_time is not None:
        body["timestamp"] = _fields.iso(span.end_time)
    if span.status.status_code is StatusCode.ERROR:
        body["status_code"] = 500
        body["error_message"] = metadata.get("error_message", "error")
    else:
        body["status_code"] = 200

    dataset = attributes.get(attrs.DATASET)
    return MappedLog(
        dataset=dataset if isinstance(dataset, str) and dataset else None,
        body=body,
        trace_id=span.context.trace_id if span.context else 0,
        span_id=span.context.span_id if span.context else 0,
    )
