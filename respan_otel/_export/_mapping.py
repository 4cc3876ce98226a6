"""Where one finished span becomes the body of one dataset row.

:func:`span_to_log` gives the Respan "unified format"::

    {"input": ..., "output": ..., "metadata": {...}, "metrics": {...},
     "start_time": ..., "timestamp": ..., "status_code": 200 | 500, "error_message": ...}

Input and output come from :mod:`respan_otel._export.conventions` (one module per
convention, one shape per kind of step); metadata and metrics are assembled here.
Which spans become rows, run totals, duplicates and cost: :mod:`._rows` (RowBuilder).
A span with no dataset content (plain HTTP or database spans) maps to ``None``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from respan_otel import _attributes as attrs
from respan_otel._export import conventions
from respan_otel._export.conventions import genai, openinference, respan, traceloop
from respan_otel._export.conventions._common import (
    ASSOCIATION_PREFIX,
    MISSING,
    Reader,
    first_present,
    text,
)
from respan_otel._redact import REDACTED, Redactor

MODEL_KEYS: Final = (
    "gen_ai.response.model",
    "llm.response.model_name",
    "gen_ai.request.model",
    "llm.request.model_name",
    "llm.model_name",
    openinference.EMBEDDING_MODEL,
)
PROVIDER_KEYS: Final = ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")

METRIC_KEYS: Final[Mapping[str, tuple[str, ...]]] = {
    "prompt_tokens": (
        "gen_ai.usage.input_tokens",
        "llm.token_count.prompt",
        "gen_ai.usage.prompt_tokens",
    ),
    "completion_tokens": (
        "gen_ai.usage.output_tokens",
        "llm.token_count.completion",
        "gen_ai.usage.completion_tokens",
    ),
    "total_tokens": (
        "llm.token_count.total",
        "llm.usage.total_tokens",
        "gen_ai.usage.total_tokens",
    ),
    "cost": ("llm.cost.total", "gen_ai.usage.cost"),
}

ID_KEYS: Final[Mapping[str, tuple[str, ...]]] = {
    "session_id": (
        attrs.SESSION_ID,
        "gen_ai.conversation.id",
        "session.id",
        "traceloop.association.properties.session_id",
        *respan.SESSION_KEYS,
    ),
    "customer_identifier": (
        attrs.CUSTOMER_IDENTIFIER,
        *respan.CUSTOMER_KEYS,
        "user.id",
        "traceloop.association.properties.customer_identifier",
        "traceloop.association.properties.user_id",
    ),
    "thread_identifier": (attrs.THREAD_IDENTIFIER, *respan.THREAD_KEYS),
    "custom_identifier": (attrs.CUSTOM_IDENTIFIER, *respan.CUSTOM_KEYS),
}

LOOKUP_KEYS: Final = frozenset(
    (
        *MODEL_KEYS,
        *PROVIDER_KEYS,
        *(key for keys in METRIC_KEYS.values() for key in keys),
        *(key for keys in ID_KEYS.values() for key in keys),
    )
)
"""Every key looked up by name for metadata and metrics: which of them a span holds is
found once (our own spans usually hold none), so absent groups cost nothing."""

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

MAX_ERROR_MESSAGE_CHARS: Final = 8192
"""Error messages longer than this are cut, so a huge exception never costs the log."""

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
    return dict(span.attributes) if span.attributes else {}


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

    present = LOOKUP_KEYS.intersection(attributes)
    metadata = _metadata(span, attributes, reader, kind, present)
    body["metadata"] = metadata
    body["metrics"] = _metrics(span, attributes, reader, present)
    if span.start_time is not None:
        body["start_time"] = _iso(span.start_time)
    if span.end_time is not None:
        body["timestamp"] = _iso(span.end_time)
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


def _metadata(
    span: ReadableSpan,
    attributes: Mapping[str, Any],
    reader: Reader,
    kind: str,
    present: frozenset[str],
) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    openinference_metadata = reader.json(openinference.METADATA)
    if isinstance(openinference_metadata, dict):
        metadata.update(reader.clean(openinference_metadata))
    skip = len(ASSOCIATION_PREFIX)
    for key, value in reader.prefixed(ASSOCIATION_PREFIX):
        name = key[skip:]
        secret = reader.redactor is not None and reader.redactor.matches(name)
        metadata[name] = REDACTED if secret else reader.clean(value)
    if kind == "llm" and attrs.KIND not in attributes:
        parameters = genai.request_parameters(attributes) or openinference.request_parameters(
            reader
        )
        metadata.update(reader.clean(parameters))
    own = respan.own_metadata(attributes)
    if isinstance(own, dict):
        metadata.update(own)

    metadata["log_type"] = kind
    model = metadata.get("model") or first_present(attributes, MODEL_KEYS, present)
    if model is not None:
        metadata["model"] = str(model)
    provider = first_present(attributes, PROVIDER_KEYS, present)
    if provider is not None:
        metadata.setdefault("provider", str(provider))
    for field, keys in ID_KEYS.items():
        value = first_present(attributes, keys, present)
        if value is not None:
            metadata[field] = str(value)

    context = span.context
    metadata["span_name"] = span.name
    if context is not None:
        metadata["trace_id"] = f"{context.trace_id:032x}"
        metadata["span_id"] = f"{context.span_id:016x}"
    if span.parent is not None:
        metadata["parent_span_id"] = f"{span.parent.span_id:016x}"
    service = _service_name(span.resource)
    if service is not None:
        metadata["service_name"] = service
    if span.status.status_code is StatusCode.ERROR:
        error_type, error_message = _error(span, attributes)
        metadata["error_type"] = error_type
        metadata["error_message"] = error_message
    end_reason = attributes.get(attrs.END_REASON)
    if end_reason is not None:
        metadata["end_reason"] = str(end_reason)
    return metadata


_last_resource: tuple[Resource | None, str | None] = (None, None)
"""The last resource :func:`_service_name` read, and its answer (a provider's spans all
share one resource, whose attribute mapping answers in Python)."""


def _service_name(resource: Resource | None) -> str | None:
    global _last_resource
    cached = _last_resource  # one read: another thread may replace it (a tuple, whole)
    if cached[0] is resource and resource is not None:
        return cached[1]
    service = resource.attributes.get("service.name") if resource else None
    found = None if service is None else str(service)
    _last_resource = (resource, found)
    return found


def _error(span: ReadableSpan, attributes: Mapping[str, Any]) -> tuple[str, str]:
    error_type: object = attributes.get(attrs.ERROR_TYPE)
    message: object = span.status.description
    for event in span.events:
        if event.name == "exception" and event.attributes:
            error_type = error_type or event.attributes.get("exception.type")
            message = message or event.attributes.get("exception.message")
    return text(str(error_type or "error"), 1024), text(
        str(message or error_type or "error"), MAX_ERROR_MESSAGE_CHARS
    )


def _metrics(
    span: ReadableSpan, attributes: Mapping[str, Any], reader: Reader, present: frozenset[str]
) -> dict[str, Any]:
    metrics: dict[str, Any] = {}
    if span.start_time is not None and span.end_time is not None:
        metrics["latency"] = max(0, span.end_time - span.start_time) / 1e9
    if present:
        for field, keys in METRIC_KEYS.items():
            value = number(first_present(attributes, keys, present))
            if value is not None:
                metrics[field] = value
    skip = len(attrs.METRICS_PREFIX)
    for key, value in reader.prefixed(attrs.METRICS_PREFIX):
        found = number(value)
        if found is not None:
            metrics[key[skip:]] = found
    if "total_tokens" not in metrics and {"prompt_tokens", "completion_tokens"} <= metrics.keys():
        total = metrics["prompt_tokens"] + metrics["completion_tokens"]
        if math.isfinite(total):
            metrics["total_tokens"] = total
    return metrics


_last_second: tuple[int, str] = (-1, "")
"""The last whole second :func:`_iso` wrote, and its text (spans come in bursts)."""


def _iso(nanoseconds: int) -> str:
    """An OTel timestamp as ISO 8601 UTC with microseconds, as Respan's log fields use."""
    global _last_second
    seconds, rest = divmod(nanoseconds, 1_000_000_000)
    cached = _last_second  # one read: another thread may replace it (a tuple, whole)
    if cached[0] != seconds:
        cached = _last_second = (seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)))
    return f"{cached[1]}.{rest // 1000:06d}Z"


def number(value: object) -> int | float | None:
    """A finite int or float (``bool`` is not a number here), else ``None``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None  # NaN and infinities are not JSON
    return value
