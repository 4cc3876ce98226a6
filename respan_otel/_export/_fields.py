"""A row's metadata and metrics: model, provider, ids, request parameters, errors,
timestamps and token counts, read from whichever convention wrote them (our own
attributes first). A row's input and output come from :mod:`.conventions`."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any, Final

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from respan_otel import _attributes as attrs
from respan_otel._export.conventions import genai, openinference, respan
from respan_otel._export.conventions._common import first_present, text
from respan_otel._export.conventions._reader import ASSOCIATION_PREFIX, Reader
from respan_otel._redact import REDACTED

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

MAX_ERROR_MESSAGE_CHARS: Final = 8192
"""Error messages longer than this are cut, so a huge exception never costs the log."""


def metadata(
    span: ReadableSpan,
    attributes: Mapping[str, Any],
    reader: Reader,
    kind: str,
    present: frozenset[str],
) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    openinference_metadata = reader.json_dict(openinference.METADATA)
    if openinference_metadata:
        metadata.update(openinference_metadata)
    skip = len(ASSOCIATION_PREFIX)
    for key, value in reader.prefixed(ASSOCIATION_PREFIX):
        name = key[skip:]
        secret = reader.redactor is not None and reader.redactor.matches(name)
        metadata[name] = REDACTED if secret else reader.clean(value)
    if kind == "llm" and attrs.KIND not in attributes:
        parameters = genai.request_parameters(attributes)
        if parameters:
            metadata.update(reader.clean(parameters))
        else:
            metadata.update(openinference.request_parameters(reader) or {})
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


def metrics(
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
"""The last whole second :func:`iso` wrote, and its text (spans come in bursts)."""


def iso(nanoseconds: int) -> str:
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
