"""Where a span becomes a dataset log.

:func:`span_to_log` turns one finished ``ReadableSpan`` into the body of one Respan
dataset log (the API's "unified format")::

    {"input": ..., "output": ..., "metadata": {...}, "metrics": {...},
     "start_time": ..., "timestamp": ..., "status_code": 200 | 500, "error_message": ...}

Our own ``respan.*`` attributes come first; spans of other instrumentations are read by
the precedence tables below (OpenTelemetry GenAI semantic conventions, including legacy
names, then OpenInference, then Traceloop/OpenLLMetry and respan-tracing). A span with
no dataset content (plain HTTP or database spans, even when ``propagate()`` stamped ids
on them) maps to ``None`` and is not exported.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from respan_otel import _attributes as attrs
from respan_otel._redact import REDACTED, Redactor
from respan_otel._serialize import to_jsonable
from respan_otel._settings import capture_settings

# ---------------------------------------------------------------------------------------
# Precedence tables: the first attribute present wins.

INPUT_KEYS: Final = ("gen_ai.input.messages", "input.value", "traceloop.entity.input")
OUTPUT_KEYS: Final = ("gen_ai.output.messages", "output.value", "traceloop.entity.output")
INPUT_FLAT_PREFIXES: Final = ("llm.input_messages.", "gen_ai.prompt.")
OUTPUT_FLAT_PREFIXES: Final = ("llm.output_messages.", "gen_ai.completion.")

MODEL_KEYS: Final = (
    "gen_ai.response.model",
    "llm.response.model_name",
    "gen_ai.request.model",
    "llm.request.model_name",
    "llm.model_name",
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
        "respan.sessions.session_identifier",
    ),
    "customer_identifier": (
        attrs.CUSTOMER_IDENTIFIER,
        "respan.customer_params.customer_identifier",
        "user.id",
        "traceloop.association.properties.customer_identifier",
        "traceloop.association.properties.user_id",
    ),
    "thread_identifier": (attrs.THREAD_IDENTIFIER, "respan.threads.thread_identifier"),
    "custom_identifier": (attrs.CUSTOM_IDENTIFIER, "respan.span_params.custom_identifier"),
}

OPENINFERENCE_KINDS: Final[Mapping[str, str]] = {
    "LLM": "llm",
    "CHAIN": "workflow",
    "AGENT": "agent",
    "TOOL": "tool",
    "RETRIEVER": "retriever",
    "RERANKER": "retriever",
    "EMBEDDING": "embedding",
    "GUARDRAIL": "guardrail",
    "EVALUATOR": "evaluator",
}
TRACELOOP_REQUEST_KINDS: Final[Mapping[str, str]] = {
    "chat": "llm",
    "completion": "llm",
    "embedding": "embedding",
    "rerank": "retriever",
}
GENAI_OPERATION_KINDS: Final[Mapping[str, str]] = {
    "chat": "llm",
    "generate_content": "llm",
    "text_completion": "llm",
    "embeddings": "embedding",
    "retrieval": "retriever",
    "execute_tool": "tool",
    "invoke_agent": "agent",
    "create_agent": "agent",
    "invoke_workflow": "workflow",
}

CONTENT_MARKERS: Final = (
    attrs.KIND,
    attrs.INPUT,
    attrs.OUTPUT,
    "gen_ai.operation.name",
    "openinference.span.kind",
    "traceloop.span.kind",
    "llm.request.type",
    "respan.entity.log_type",
    *INPUT_KEYS,
    *OUTPUT_KEYS,
)
"""Any of these makes a span dataset content. Propagated ids alone do not."""
CONTENT_MARKER_SET: Final = frozenset(CONTENT_MARKERS)

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


def select_log(
    span: ReadableSpan,
    *,
    only_root_spans: bool = False,
    redactor: Redactor | None = None,
    before_send: BeforeSend | None = None,
) -> tuple[MappedLog | None, str | None]:
    """The log to export for ``span``, or ``None`` and why not.

    Reasons: ``"not-root"`` and ``"no-content"`` (the span is not a log at all),
    ``"before-send"`` (the hook dropped it), ``"before-send-type"`` (the hook returned
    something other than a dict). An exception from the hook propagates: the caller
    drops the log and reports it, so a masking hook can never be skipped.
    """
    if only_root_spans and not is_root(span):
        return None, "not-root"
    mapped = span_to_log(span, redactor=redactor)
    if mapped is None:
        return None, "no-content"
    if before_send is None:
        return mapped, None
    body = before_send(mapped.body)
    if body is None:
        return None, "before-send"
    if not isinstance(body, dict):
        return None, "before-send-type"
    return MappedLog(mapped.dataset, body, mapped.trace_id, mapped.span_id), None


def has_dataset_content(span: ReadableSpan) -> bool:
    """Whether the span carries LLM/workflow content, as opposed to HTTP or DB noise."""
    return _has_content(_plain(span))


def _plain(span: ReadableSpan) -> dict[str, Any]:
    """The span's attributes as a plain dict: one C-level copy, then fast lookups
    (the SDK's attribute mapping answers ``get`` in Python)."""
    return dict(span.attributes) if span.attributes else {}


def _has_content(attributes: Mapping[str, Any]) -> bool:
    if not CONTENT_MARKER_SET.isdisjoint(attributes):
        return True
    return any(key.startswith(INPUT_FLAT_PREFIXES) for key in attributes)


def is_root(span: ReadableSpan) -> bool:
    """No parent in this process: a local root, or the first span under a remote parent."""
    return span.parent is None or span.parent.is_remote


def span_to_log(span: ReadableSpan, *, redactor: Redactor | None = None) -> MappedLog | None:
    """Map a finished span to a dataset log, or ``None`` if it has no dataset content.

    ``redactor`` masks secrets in content read from other instrumentations' attributes;
    our own attributes were redacted when they were recorded.
    """
    attributes = _plain(span)
    if not _has_content(attributes):
        return None
    foreign = _Foreign(attributes, redactor)

    body: dict[str, Any] = {"input": _own_json(attributes, attrs.INPUT)}
    if body["input"] is _MISSING:
        body["input"] = foreign.content(INPUT_KEYS, INPUT_FLAT_PREFIXES)
    output = _own_json(attributes, attrs.OUTPUT)
    if output is _MISSING:
        output = foreign.content(OUTPUT_KEYS, OUTPUT_FLAT_PREFIXES)
    if output is not _MISSING:
        body["output"] = output
    if body["input"] is _MISSING:
        body["input"] = NO_INPUT

    metadata = _metadata(span, attributes, foreign)
    metrics = _metrics(span, attributes)
    body["metadata"] = metadata
    body["metrics"] = metrics
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


class _Missing:
    __slots__ = ()


_MISSING: Final[Any] = _Missing()


def _finite_float(text: str) -> float | str:
    """A JSON number as a float, or as its text when it overflows (``1e999``)."""
    value = float(text)
    return value if math.isfinite(value) else text


_DECODER: Final = json.JSONDecoder(parse_constant=str, parse_float=_finite_float)


def _parse(raw: str) -> Any:
    """JSON text to native JSON, or ``_MISSING`` when it is not JSON (or absurdly deep).

    ``NaN`` and ``Infinity`` literals, which some encoders write and strict JSON forbids,
    and numbers too large for a float (``1e999``) stay strings.
    """
    try:
        return _DECODER.decode(raw)
    except (ValueError, RecursionError):
        return _MISSING


def _text(raw: str, limit: int | None = None) -> str:
    """A plain-text value, cut to the field cap with a visible marker."""
    cap = capture_settings().max_field_bytes if limit is None else limit
    if len(raw) <= cap:
        return raw
    return f"{raw[:cap]}...[truncated {len(raw) - cap} chars]"


def _own_json(attributes: Mapping[str, Any], key: str) -> Any:
    """Our JSON-string attributes, parsed back into native JSON."""
    raw = attributes.get(key)
    if raw is None:
        return _MISSING
    if isinstance(raw, str):
        parsed = _parse(raw)
        return _text(raw) if parsed is _MISSING else parsed
    return to_jsonable(raw)


def _first(attributes: Mapping[str, Any], keys: Sequence[str]) -> Any:
    for key in keys:
        value = attributes.get(key)
        if value is not None and value != "":
            return value
    return None


class _Foreign:
    """Reads other instrumentations' content attributes, redacting what it returns."""

    __slots__ = ("attributes", "redactor")

    def __init__(self, attributes: Mapping[str, Any], redactor: Redactor | None) -> None:
        self.attributes = attributes
        self.redactor = redactor

    def clean(self, value: Any) -> Any:
        return to_jsonable(value, redactor=self.redactor)

    def content(self, keys: Sequence[str], flat_prefixes: Sequence[str]) -> Any:
        for key in keys:
            raw = self.attributes.get(key)
            if raw is None:
                continue
            if isinstance(raw, str):
                mime = self.attributes.get(key.replace(".value", ".mime_type"))
                if key.endswith(".value") and mime not in (None, "application/json"):
                    return _text(raw)
                parsed = _parse(raw)
                return _text(raw) if parsed is _MISSING else self.clean(parsed)
            return self.clean(raw)
        for prefix in flat_prefixes:
            messages = self.flat_messages(prefix)
            if messages:
                return self.clean(messages)
        return _MISSING

    def flat_messages(self, prefix: str) -> list[dict[str, Any]]:
        """Flattened message attributes, gathered back into a list of messages.

        ``llm.input_messages.0.message.role`` gives ``[{"role": ...}]``; deeper keys
        nest: ``...0.message.tool_calls.1.tool_call.function.name`` becomes
        ``tool_calls[1]["function"]["name"]`` and ``...0.message.contents.0.
        message_content.text`` becomes ``contents[0]["text"]``.
        """
        root: dict[Any, Any] = {}
        for key, value in self.attributes.items():
            if not key.startswith(prefix):
                continue
            path = [part for part in key[len(prefix) :].split(".") if part not in _WRAPPERS]
            if len(path) < 2 or not _is_index(path[0]):
                continue
            node = root
            for part in path[:-1]:
                step: Any = int(part) if _is_index(part) else part
                child = node.setdefault(step, {})
                if not isinstance(child, dict):
                    break
                node = child
            else:
                node[path[-1]] = value
        return [_as_lists(root[index]) for index in sorted(root)]


def _is_index(part: str) -> bool:
    """A list index in a flattened key: plain ASCII digits, of a sane length."""
    return part.isascii() and part.isdigit() and len(part) <= 6


_WRAPPERS: Final = frozenset({"message", "tool_call", "message_content"})
"""Name segments that only wrap the fields of a flattened message."""


def _as_lists(node: Any) -> Any:
    """Dicts keyed 0..n (from flattened indices) become lists, recursively."""
    if not isinstance(node, dict):
        return node
    if node and all(isinstance(key, int) for key in node):
        return [_as_lists(node[key]) for key in sorted(node)]
    return {str(key): _as_lists(value) for key, value in node.items()}


def _log_type(attributes: Mapping[str, Any]) -> str:
    kind = attributes.get(attrs.KIND) or attributes.get("respan.entity.log_type")
    if isinstance(kind, str) and kind:
        return kind
    openinference = attributes.get("openinference.span.kind")
    if isinstance(openinference, str):
        return OPENINFERENCE_KINDS.get(openinference.upper(), "custom")
    traceloop = attributes.get("traceloop.span.kind")
    if isinstance(traceloop, str) and traceloop in ("workflow", "task", "agent", "tool"):
        return traceloop
    request_type = attributes.get("llm.request.type")
    if isinstance(request_type, str) and request_type in TRACELOOP_REQUEST_KINDS:
        return TRACELOOP_REQUEST_KINDS[request_type]
    operation = attributes.get("gen_ai.operation.name")
    if isinstance(operation, str):
        return GENAI_OPERATION_KINDS.get(operation, "custom")
    return "custom"


def _metadata(
    span: ReadableSpan, attributes: Mapping[str, Any], foreign: _Foreign
) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    openinference_metadata = attributes.get("metadata")
    if isinstance(openinference_metadata, str):
        parsed = _parse(openinference_metadata)
        if isinstance(parsed, dict):
            metadata.update(foreign.clean(parsed))
    prefix = "traceloop.association.properties."
    for key, value in attributes.items():
        if key.startswith(prefix):
            name = key[len(prefix) :]
            secret = foreign.redactor is not None and foreign.redactor.matches(name)
            metadata[name] = REDACTED if secret else foreign.clean(value)
    own = _own_json(attributes, attrs.METADATA)
    if isinstance(own, dict):
        metadata.update(own)

    metadata["log_type"] = _log_type(attributes)
    model = metadata.get("model") or _first(attributes, MODEL_KEYS)
    if model is not None:
        metadata["model"] = str(model)
    provider = _first(attributes, PROVIDER_KEYS)
    if provider is not None:
        metadata.setdefault("provider", str(provider))
    for field, keys in ID_KEYS.items():
        value = _first(attributes, keys)
        if value is not None:
            metadata[field] = str(value)

    context = span.context
    metadata["span_name"] = span.name
    if context is not None:
        metadata["trace_id"] = f"{context.trace_id:032x}"
        metadata["span_id"] = f"{context.span_id:016x}"
    if span.parent is not None:
        metadata["parent_span_id"] = f"{span.parent.span_id:016x}"
    service = span.resource.attributes.get("service.name") if span.resource else None
    if service is not None:
        metadata["service_name"] = str(service)
    if span.status.status_code is StatusCode.ERROR:
        error_type, error_message = _error(span, attributes)
        metadata["error_type"] = error_type
        metadata["error_message"] = error_message
    end_reason = attributes.get(attrs.END_REASON)
    if end_reason is not None:
        metadata["end_reason"] = str(end_reason)
    return metadata


def _error(span: ReadableSpan, attributes: Mapping[str, Any]) -> tuple[str, str]:
    error_type: object = attributes.get(attrs.ERROR_TYPE)
    message: object = span.status.description
    for event in span.events:
        if event.name == "exception" and event.attributes:
            error_type = error_type or event.attributes.get("exception.type")
            message = message or event.attributes.get("exception.message")
    return _text(str(error_type or "error"), 1024), _text(
        str(message or error_type or "error"), MAX_ERROR_MESSAGE_CHARS
    )


def _metrics(span: ReadableSpan, attributes: Mapping[str, Any]) -> dict[str, Any]:
    metrics: dict[str, Any] = {}
    if span.start_time is not None and span.end_time is not None:
        metrics["latency"] = max(0, span.end_time - span.start_time) / 1e9
    for field, keys in METRIC_KEYS.items():
        value = _number(_first(attributes, keys))
        if value is not None:
            metrics[field] = value
    for key, value in attributes.items():
        if key.startswith(attrs.METRICS_PREFIX):
            number = _number(value)
            if number is not None:
                metrics[key[len(attrs.METRICS_PREFIX) :]] = number
    if "total_tokens" not in metrics and {"prompt_tokens", "completion_tokens"} <= metrics.keys():
        total = metrics["prompt_tokens"] + metrics["completion_tokens"]
        if math.isfinite(total):
            metrics["total_tokens"] = total
    return metrics


def _iso(nanoseconds: int) -> str:
    """An OTel timestamp as ISO 8601 UTC with microseconds, as Respan's log fields use."""
    seconds, rest = divmod(nanoseconds, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{rest // 1000:06d}Z"


def _number(value: object) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None  # NaN and infinities are not JSON
    return value
