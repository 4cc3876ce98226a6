"""Opening, filling and closing respan-otel spans: the handle, ``span()`` and
``update_current_span()``. ``@trace`` (in ``_decorator``) is built on the same pieces.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from contextvars import ContextVar
from types import TracebackType
from typing import Any, Final, Literal, get_args

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.context import Context
from opentelemetry.trace import ProxyTracerProvider, Status, StatusCode, Tracer
from opentelemetry.util.types import AttributeValue

from respan_otel import _attributes as attrs
from respan_otel._log import log_internal_error, logger
from respan_otel._redact import get_redactor
from respan_otel._serialize import dumps
from respan_otel._settings import CaptureSettings, capture_settings
from respan_otel._tracing._propagation import TRACER_NAME, current_propagated
from respan_otel._version import __version__

Kind = Literal[
    "workflow",
    "task",
    "agent",
    "tool",
    "llm",
    "retriever",
    "embedding",
    "guardrail",
    "evaluator",
    "custom",
]
"""What a span stands for; it becomes the dataset log's ``log_type``."""

KINDS: Final[tuple[str, ...]] = get_args(Kind)
DEFAULT_KIND: Final = "task"

_HANDLE_KEY: Final = otel_context.create_key("respan_otel.span_handle")


class _Unset:
    """Marks an argument that was not given (``None`` is a legitimate input or output)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset()


def check_kind(kind: object, where: str) -> str:
    """Validate ``kind=`` early, with an error that lists the accepted kinds."""
    if kind not in KINDS:
        raise ValueError(f"{where}: kind={kind!r} is not one of {', '.join(KINDS)}")
    return str(kind)


def check_metadata(metadata: object, where: str) -> dict[str, Any]:
    """Validate a metadata argument: a mapping with string keys (or ``None``)."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise TypeError(f"{where}: metadata must be a mapping, got {type(metadata).__name__}")
    for key in metadata:
        if not isinstance(key, str):
            raise TypeError(f"{where}: metadata keys must be str, got {type(key).__name__}")
    return dict(metadata)


def check_metrics(metrics: object, where: str) -> dict[str, int | float]:
    """Validate metrics: a mapping of names to real numbers. ``None`` values are skipped."""
    if metrics is None:
        return {}
    if not isinstance(metrics, Mapping):
        raise TypeError(f"{where}: metrics must be a mapping, got {type(metrics).__name__}")
    checked: dict[str, int | float] = {}
    for key, value in metrics.items():
        if not isinstance(key, str):
            raise TypeError(f"{where}: metric names must be str, got {type(key).__name__}")
        if value is None:
            continue
        if isinstance(value, (bool, str, bytes)):
            raise TypeError(f"{where}: metric {key!r} must be a number, got {type(value).__name__}")
        if not isinstance(value, (int, float)):
            # numbers from numpy and friends convert cleanly; anything else is a mistake
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise TypeError(
                    f"{where}: metric {key!r} must be a number, got {type(value).__name__}"
                ) from None
        checked[key] = value
    return checked


def check_dataset(dataset: object, where: str) -> str | None:
    if dataset is None:
        return None
    if not isinstance(dataset, str) or not dataset.strip():
        raise TypeError(f"{where}: dataset must be a non-empty str (an id or a name)")
    return dataset


_cached_provider: object = None
_cached_tracer: Tracer | None = None


def active_tracer() -> Tracer | None:
    """Our tracer, or ``None`` when tracing is a pass-through.

    Pass-through means ``OTEL_SDK_DISABLED=true``, no provider set yet, or a provider that
    hands out no-op tracers. The answer is cached per provider object, so the check costs
    a global lookup and an identity comparison per call.
    """
    global _cached_provider, _cached_tracer
    provider = otel_trace.get_tracer_provider()
    if provider is _cached_provider:
        return _cached_tracer
    tracer: Tracer | None = None
    if not isinstance(provider, ProxyTracerProvider) and not capture_settings().disabled:
        candidate = provider.get_tracer(TRACER_NAME, __version__)
        if not isinstance(candidate, otel_trace.NoOpTracer):
            tracer = candidate
    _cached_provider, _cached_tracer = provider, tracer
    return tracer


def reset_tracer_cache() -> None:
    """Forget the cached tracer (after settings change, in tests)."""
    global _cached_provider, _cached_tracer
    _cached_provider, _cached_tracer = None, None


MAX_STATUS_CHARS: Final = 1024
"""Status descriptions are cut here: a huge exception message must not slow the call."""


def _safe_text(exc: BaseException) -> str:
    """``Type: message``, bounded, even when the exception's ``__str__`` raises."""
    try:
        text = f"{type(exc).__name__}: {exc}"
    except Exception:
        return type(exc).__name__
    return text if len(text) <= MAX_STATUS_CHARS else text[:MAX_STATUS_CHARS] + "..."


class RespanSpan:
    """Handle on a span opened by ``@trace`` or ``span()``.

    Setters serialize at once (so later mutation of the value does not change what was
    recorded) and do nothing when the span is not recording.
    """

    __slots__ = ("_metadata", "_settings", "input_set", "output_set", "span")

    def __init__(
        self,
        span: otel_trace.Span,
        settings: CaptureSettings,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.span = span
        self._settings = settings
        self._metadata = metadata
        self.input_set = False
        self.output_set = False

    @property
    def is_recording(self) -> bool:
        """Whether anything set on this span will be kept (false when sampled out)."""
        return self.span.is_recording()

    def _dump(self, value: object) -> str:
        settings = self._settings
        return dumps(
            value,
            max_bytes=settings.max_field_bytes,
            redactor=get_redactor(settings.redact_keys),
        )

    def set_input(self, value: object) -> None:
        """Record ``value`` as the span's input, replacing the captured arguments."""
        self.input_set = True
        if self._settings.capture_content and self.span.is_recording():
            self.span.set_attribute(attrs.INPUT, self._dump(value))

    def set_output(self, value: object) -> None:
        """Record ``value`` as the span's output; it wins over the return value."""
        self.output_set = True
        if self._settings.capture_content and self.span.is_recording():
            self.span.set_attribute(attrs.OUTPUT, self._dump(value))

    def set_metadata(self, metadata: Mapping[str, Any]) -> None:
        """Merge ``metadata`` into the span's metadata (later keys win)."""
        checked = check_metadata(metadata, "set_metadata")
        if not checked or not self.span.is_recording():
            return
        merged = {**(self._metadata or {}), **checked}
        self._metadata = merged
        self.span.set_attribute(attrs.METADATA, self._dump(merged))

    def set_metrics(self, metrics: Mapping[str, int | float]) -> None:
        """Set numeric metrics (tokens, cost, scores...); names must be str."""
        checked = check_metrics(metrics, "set_metrics")
        if checked and self.span.is_recording():
            self.span.set_attributes(
                {attrs.METRICS_PREFIX + key: value for key, value in checked.items()}
            )

    def set_name(self, name: str) -> None:
        """Rename the span."""
        if not isinstance(name, str) or not name:
            raise TypeError("span name must be a non-empty str")
        self.span.update_name(name)

    def __repr__(self) -> str:
        ctx = self.span.get_span_context()
        return f"RespanSpan(trace_id={ctx.trace_id:032x}, span_id={ctx.span_id:016x})"


def start(
    tracer: Tracer,
    name: str,
    kind: str,
    dataset: str | None,
    metadata: Mapping[str, Any] | None,
    parent: Context | None = None,
) -> tuple[RespanSpan, Context]:
    """Start a span (not yet current) and return its handle and the context to attach."""
    settings = capture_settings()
    start_attributes: dict[str, AttributeValue] = {attrs.KIND: kind}
    if dataset is not None:
        start_attributes[attrs.DATASET] = dataset
    propagated = current_propagated(parent)
    merged_metadata: dict[str, Any] | None = dict(metadata) if metadata else None
    if propagated is not None:
        start_attributes.update(propagated.attributes)
        if propagated.metadata:
            merged_metadata = {**propagated.metadata, **(metadata or {})}
    span = tracer.start_span(name, context=parent, attributes=start_attributes)
    handle = RespanSpan(span, settings, merged_metadata)
    if metadata and span.is_recording():
        # call-site metadata is merged with the propagated one, so write the merged object
        span.set_attribute(attrs.METADATA, handle._dump(merged_metadata))
    ctx = otel_context.set_value(_HANDLE_KEY, handle, otel_trace.set_span_in_context(span, parent))
    return handle, ctx


def record_end(span: otel_trace.Span, exc: BaseException | None) -> None:
    """Set status and end the span.

    How endings other than a normal return are recorded (also in docs/conventions.md):

    - ``Exception``: status ERROR, ``error.type``, exception event.
    - ``GeneratorExit`` (the consumer stopped early, or the generator was collected):
      not an error; ``respan.end_reason = "closed"``.
    - ``asyncio.CancelledError``: status ERROR, ``respan.end_reason = "cancelled"``: the
      run did not finish, so its log must not look like a success.
    - ``KeyboardInterrupt``: status ERROR, ``respan.end_reason = "interrupted"``.
    - ``SystemExit`` with code 0 or None: not an error, ``respan.end_reason = "exit"``;
      other codes are errors.
    """
    try:
        if exc is not None and span.is_recording():
            _record_failure(span, exc)
    except Exception as internal:
        log_internal_error("recording an exception", internal)
    finally:
        span.end()


def _record_failure(span: otel_trace.Span, exc: BaseException) -> None:
    if isinstance(exc, GeneratorExit):
        span.set_attribute(attrs.END_REASON, "closed")
        return
    if isinstance(exc, SystemExit) and exc.code in (0, None):
        span.set_attribute(attrs.END_REASON, "exit")
        return
    if isinstance(exc, asyncio.CancelledError):
        span.set_attribute(attrs.END_REASON, "cancelled")
    elif isinstance(exc, KeyboardInterrupt):
        span.set_attribute(attrs.END_REASON, "interrupted")
    exc_type = type(exc)
    span.set_attribute(attrs.ERROR_TYPE, f"{exc_type.__module__}.{exc_type.__qualname__}")
    span.set_status(Status(StatusCode.ERROR, _safe_text(exc)))
    try:
        span.record_exception(exc)
    except Exception as internal:  # e.g. an exception whose __str__ raises
        log_internal_error("recording an exception event", internal)


def current_handle() -> RespanSpan | None:
    """The handle of the current span when it is one of ours."""
    handle = otel_context.get_value(_HANDLE_KEY)
    if isinstance(handle, RespanSpan) and handle.span is otel_trace.get_current_span():
        return handle
    return None


class SpanContextManager:
    """What ``span(...)`` returns: a ``with`` / ``async with`` block around one span.

    Every entry opens its own span and keeps its own token in a context variable, so the
    same object can be re-entered or entered by several tasks at once.
    """

    __slots__ = ("_dataset", "_entries", "_input", "_kind", "_metadata", "_metrics", "_name")

    def __init__(
        self,
        name: str,
        kind: str,
        input: object,
        metadata: dict[str, Any],
        metrics: dict[str, int | float],
        dataset: str | None,
    ) -> None:
        self._name = name
        self._kind = kind
        self._input = input
        self._metadata = metadata
        self._metrics = metrics
        self._dataset = dataset
        self._entries: ContextVar[tuple[tuple[RespanSpan, object], ...]] = ContextVar(
            "respan_otel.span", default=()
        )

    def __enter__(self) -> RespanSpan:
        tracer = active_tracer()
        entry: tuple[RespanSpan, object] | None = None
        if tracer is not None:
            try:
                entry = self._open(tracer)
            except Exception as exc:
                log_internal_error("span() start", exc)
        if entry is None:
            entry = (RespanSpan(otel_trace.INVALID_SPAN, capture_settings()), None)
        self._entries.set((*self._entries.get(), entry))
        return entry[0]

    def _open(self, tracer: Tracer) -> tuple[RespanSpan, object]:
        handle, ctx = start(tracer, self._name, self._kind, self._dataset, self._metadata)
        if self._input is not UNSET:
            handle.set_input(self._input)
        if self._metrics:
            handle.set_metrics(self._metrics)
        return handle, otel_context.attach(ctx)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        entries = self._entries.get()
        if not entries:
            # exited in a context where it was never entered (e.g. another thread)
            logger.debug("respan_otel: span(%r) exited where it was not entered", self._name)
            return
        *rest, (handle, token) = entries
        self._entries.set(tuple(rest))
        if token is None:
            return
        otel_context.detach(token)  # type: ignore[arg-type]
        record_end(handle.span, exc)

    async def __aenter__(self) -> RespanSpan:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)


def span(
    name: str,
    *,
    kind: Kind = DEFAULT_KIND,
    input: object = UNSET,
    metadata: Mapping[str, Any] | None = None,
    metrics: Mapping[str, int | float] | None = None,
    dataset: str | None = None,
) -> SpanContextManager:
    """Open a span around a block: ``with span("retrieve", kind="retriever") as s:``.

    The block's span is current inside it, so nested ``@trace`` calls and other
    instrumentations become its children. Set the output with ``s.set_output(...)``.
    An exception leaving the block is recorded and re-raised unchanged.
    """
    if not isinstance(name, str) or not name:
        raise TypeError("span(): name must be a non-empty str")
    return SpanContextManager(
        name,
        check_kind(kind, "span()"),
        input,
        check_metadata(metadata, "span()"),
        check_metrics(metrics, "span()"),
        check_dataset(dataset, "span()"),
    )


def update_current_span(
    *,
    input: object = UNSET,
    output: object = UNSET,
    metadata: Mapping[str, Any] | None = None,
    metrics: Mapping[str, int | float] | None = None,
    name: str | None = None,
) -> None:
    """Set input, output, metadata, metrics or the name of the current span.

    Works inside ``@trace`` and ``span()``, and on other instrumentations' spans. When no
    span is recording it does nothing (and says so at debug level).
    """
    handle = current_handle()
    if handle is None:
        current = otel_trace.get_current_span()
        if not current.is_recording():
            logger.debug("respan_otel: update_current_span() with no recording span; ignored")
            return
        handle = RespanSpan(current, capture_settings(), _existing_metadata(current))
    if input is not UNSET:
        handle.set_input(input)
    if output is not UNSET:
        handle.set_output(output)
    if metadata is not None:
        handle.set_metadata(metadata)
    if metrics is not None:
        handle.set_metrics(metrics)
    if name is not None:
        handle.set_name(name)


def _existing_metadata(span: otel_trace.Span) -> dict[str, Any] | None:
    """Metadata already on a foreign span (from ``propagate``), so updates merge with it."""
    raw = getattr(span, "attributes", None)
    value = raw.get(attrs.METADATA) if isinstance(raw, Mapping) else None
    if not isinstance(value, str):
        return None
    try:
        parsed = json.loads(value)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None
