"""The span handle and the pieces ``span()`` and ``@trace`` share: finding our tracer,
starting a span with its propagated values, and recording how it ended.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any, Final

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.context import Context
from opentelemetry.trace import ProxyTracerProvider, Status, StatusCode, Tracer
from opentelemetry.util.types import AttributeValue

from respan_otel import _attributes as attrs
from respan_otel._log import log_internal_error
from respan_otel._redact import Redactor, get_redactor
from respan_otel._serialize import dumps
from respan_otel._settings import CaptureSettings, capture_settings
from respan_otel._tracing._checks import check_metadata, check_metrics
from respan_otel._tracing._propagation import EMPTY, current_propagated, with_propagated
from respan_otel._version import __version__

_HANDLE_KEY: Final = otel_context.create_key("respan_otel.span_handle")

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
        candidate = provider.get_tracer(attrs.TRACER_NAME, __version__)
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


_last_redactor: tuple[CaptureSettings, Redactor] | None = None


def _redactor(settings: CaptureSettings) -> Redactor:
    """The redactor of ``settings``, remembered for the last settings object (hot path)."""
    global _last_redactor
    last = _last_redactor  # one read: the pair stays consistent across threads
    if last is None or last[0] is not settings:
        last = _last_redactor = (settings, get_redactor(settings.redact_keys))
    return last[1]


class RespanSpan:
    """Handle on a span opened by ``@trace`` or ``span()``.

    Setters serialize at once (so later mutation of the value does not change what was
    recorded) and do nothing when the span is not recording.
    """

    __slots__ = ("_metadata", "_settings", "output_set", "span")

    def __init__(
        self,
        span: otel_trace.Span,
        settings: CaptureSettings,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.span = span
        self._settings = settings
        self._metadata = metadata
        self.output_set = False  # set_output() wins over the return value

    @property
    def is_recording(self) -> bool:
        """Whether anything set on this span will be kept (false when sampled out)."""
        return self.span.is_recording()

    @property
    def captures_content(self) -> bool:
        """Whether input and output are recorded: content capture on and span recording."""
        return self._settings.capture_content and self.span.is_recording()

    @property
    def redactor(self) -> Redactor:
        """The redactor of the settings this span started with."""
        return _redactor(self._settings)

    def dump(self, value: object) -> str:
        """``value`` as bounded, redacted JSON, per the settings this span started with."""
        settings = self._settings
        return dumps(value, max_bytes=settings.max_field_bytes, redactor=_redactor(settings))

    def set_input(self, value: object) -> None:
        """Record ``value`` as the span's input, replacing the captured arguments."""
        if self.captures_content:
            self.span.set_attribute(attrs.INPUT, self.dump(value))

    def set_output(self, value: object) -> None:
        """Record ``value`` as the span's output; it wins over the return value."""
        self.output_set = True
        if self.captures_content:
            self.span.set_attribute(attrs.OUTPUT, self.dump(value))

    def set_metadata(self, metadata: Mapping[str, Any]) -> None:
        """Merge ``metadata`` into the span's metadata (later keys win)."""
        checked = check_metadata(metadata, "set_metadata")
        if not checked or not self.span.is_recording():
            return
        merged = {**(self._metadata or {}), **checked}
        self._metadata = merged
        self.span.set_attribute(attrs.METADATA, self.dump(merged))

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
    """Start a span (not yet current) and return its handle and the context to attach.

    Propagated values (ids, metadata, an outer span's dataset) are stamped at start; a
    ``dataset`` given here wins and is propagated in turn to every span started inside.
    """
    settings = capture_settings()
    # the default kind is not written: one start attribute costs ~5 % of a bare span, and
    # the mapping reads a span of our tracer without a kind as the default (_mapping.plain)
    start_attributes: dict[str, AttributeValue] = {}
    if kind != attrs.DEFAULT_KIND:
        start_attributes[attrs.KIND] = kind
    propagated = current_propagated(parent)
    merged_metadata: dict[str, Any] | None = dict(metadata) if metadata else None
    if propagated is not None:
        start_attributes.update(propagated.attributes)
        if propagated.metadata:
            merged_metadata = {**propagated.metadata, **(metadata or {})}
    if dataset is not None:
        start_attributes[attrs.DATASET] = dataset
    span = tracer.start_span(name, context=parent, attributes=start_attributes or None)
    handle = RespanSpan(span, settings, merged_metadata)
    if metadata and span.is_recording():
        # call-site metadata is merged with the propagated one, so write the merged object
        span.set_attribute(attrs.METADATA, handle.dump(merged_metadata))
    ctx = otel_trace.set_span_in_context(span, parent)
    # a fresh Context nobody has seen yet: filling it saves a second copy per span
    dict.__setitem__(ctx, _HANDLE_KEY, handle)
    if dataset is not None and (propagated is None or propagated.dataset != dataset):
        ctx = with_propagated(ctx, (propagated or EMPTY).with_dataset(dataset))
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


def _is_cancellation(exc: BaseException) -> bool:
    # asyncio is looked up, not imported: if nothing imported it, this cannot be its error
    asyncio = sys.modules.get("asyncio")
    return asyncio is not None and isinstance(exc, asyncio.CancelledError)


def _record_failure(span: otel_trace.Span, exc: BaseException) -> None:
    if isinstance(exc, GeneratorExit):
        span.set_attribute(attrs.END_REASON, "closed")
        return
    if isinstance(exc, SystemExit) and exc.code in (0, None):
        span.set_attribute(attrs.END_REASON, "exit")
        return
    if _is_cancellation(exc):
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


def existing_metadata(span: otel_trace.Span) -> dict[str, Any] | None:
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
