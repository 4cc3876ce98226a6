"""``configure()``: one call at start-up that makes finished spans become dataset logs.

It attaches to the tracer provider already in use when there is one (an SDK
``TracerProvider``), and never replaces it; otherwise it creates one and sets it as the
global provider. A second call is harmless: it returns the same handle and adds nothing.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import hashlib
import inspect
import math
import os
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any, Final, ParamSpec, TypeVar

from opentelemetry import trace as otel_trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.id_generator import IdGenerator

from respan_otel._export._exporter import RespanDatasetExporter
from respan_otel._export._mapping import BeforeSend
from respan_otel._export._processor import DEFAULT_SHUTDOWN_TIMEOUT_SECONDS, DatasetSpanProcessor
from respan_otel._log import logger
from respan_otel._settings import (
    CaptureSettings,
    RowsMode,
    check_redact_keys,
    parse_float,
    sdk_disabled,
    set_capture_settings,
)
from respan_otel._tracing._handle import reset_tracer_cache
from respan_otel._tracing._processor import PropagationSpanProcessor
from respan_otel.gateway._client import gateway_processor, gateway_url

P = ParamSpec("P")
R = TypeVar("R")

ENV_SHUTDOWN_TIMEOUT_SECONDS: Final = "RESPAN_SHUTDOWN_TIMEOUT_SECONDS"
"""Bound on the flush at exit and on ``shutdown()``. Default 15."""


class EntropyIdGenerator(IdGenerator):
    """Trace and span ids from the OS's entropy, immune to ``random.seed()`` in the app."""

    def generate_span_id(self) -> int:
        while True:
            value = int.from_bytes(os.urandom(8), "big")
            if value:
                return value

    def generate_trace_id(self) -> int:
        while True:
            value = int.from_bytes(os.urandom(16), "big")
            if value:
                return value


class _ProcessorSlot(SpanProcessor):
    """The one processor ``configure()`` adds to a provider, forwarding to the current
    :class:`DatasetSpanProcessor`: a provider cannot remove a processor, so a
    ``configure()`` after ``shutdown()`` swaps the target instead of adding another."""

    def __init__(self) -> None:
        self.target: SpanProcessor | None = None  # or the OTLP processor to a gateway

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        target = self.target
        if target is not None:
            target.on_end(span)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        target = self.target
        return target.force_flush(timeout_millis) if target is not None else True


class Respan:
    """What ``configure()`` returns: flush, shut down, and read the delivery counters."""

    def __init__(
        self,
        provider: TracerProvider,
        exporter: RespanDatasetExporter | None,
        processor: SpanProcessor | None,
        options: dict[str, Any],
    ) -> None:
        self.provider = provider
        self.exporter = exporter
        self.processor = processor
        self.options = options
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether :meth:`shutdown` was called; ``configure()`` then sets up anew."""
        return self._closed

    @property
    def stats(self) -> dict[str, int]:
        """Counters: exported, failed, dropped, spooled, skipped_spans, requests."""
        return self.exporter.stats.snapshot() if self.exporter is not None else {}

    def flush(self, timeout_seconds: float = 30.0) -> bool:
        """Send everything finished so far; True when it all went out in time."""
        if self.processor is None or self._closed:
            return True
        return self.processor.force_flush(int(timeout_seconds * 1000))

    def shutdown(self) -> None:
        """Flush within the shutdown bound and stop exporting. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self.processor is not None:
            self.processor.shutdown()

    def __repr__(self) -> str:
        return f"Respan(exporting={self.exporter is not None}, stats={self.stats})"


EXPORTER_OPTIONS: Final = frozenset(
    {
        "batch_size",
        "max_request_bytes",
        "export_timeout",
        "request_timeout",
        "spool_max_bytes",
        "allow_insecure_http",
    }
)
"""Extra keyword options ``configure()`` passes on to the exporter."""

_handles: weakref.WeakKeyDictionary[TracerProvider, Respan] = weakref.WeakKeyDictionary()
_propagating: weakref.WeakKeyDictionary[TracerProvider, bool] = weakref.WeakKeyDictionary()
_slots: weakref.WeakKeyDictionary[TracerProvider, _ProcessorSlot] = weakref.WeakKeyDictionary()
_latest: Respan | None = None
_configure_lock = threading.Lock()


def configure(
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    dataset_id: str | None = None,
    service_name: str | None = None,
    tracer_provider: TracerProvider | None = None,
    capture_content: bool | None = None,
    redact_keys: Sequence[str] | None = None,
    before_send: BeforeSend | None = None,
    spool_dir: str | os.PathLike[str] | None = None,
    only_root_spans: bool | None = None,
    rows: RowsMode | None = None,
    requests_per_minute: float | None = None,
    shutdown_timeout: float | None = None,
    gateway: str | None = None,
    gateway_token: str | None = None,
    **exporter_options: Any,
) -> Respan:
    """Set up dataset export in one call; every option falls back to ``RESPAN_*``.

    Attaches to ``tracer_provider``, else to the global SDK provider when one is set,
    else creates a provider (OS-entropy ids, ``service.name`` from ``service_name`` or
    ``OTEL_SERVICE_NAME``) and sets it globally. Adds the propagation processor and a
    batching dataset processor tuned for the API (500 spans per batch, 2 s delay,
    20,000 queued). Idempotent per provider: a second call returns the first handle
    and warns if its options differ. Without an API key it warns once; tracing works
    and nothing is sent. With ``OTEL_SDK_DISABLED=true`` it does nothing.

    With ``gateway`` (or ``RESPAN_GATEWAY_URL``) spans go over OTLP/HTTP to that
    ``respan-otel gateway`` with ``gateway_token`` (or ``RESPAN_GATEWAY_TOKEN``) instead
    of to Respan; the gateway maps and delivers them (``docs/fleet.md``).

    Extra keyword options (``batch_size``, ``max_request_bytes``, ``export_timeout``,
    ``request_timeout``, ``spool_max_bytes``, ``allow_insecure_http``) go to
    :class:`~respan_otel.RespanDatasetExporter`.
    """
    global _latest
    options = {
        key: value
        for key, value in {
            "api_key": _fingerprint(api_key),
            "base_url": base_url,
            "dataset_id": dataset_id,
            "service_name": service_name,
            "capture_content": capture_content,
            "redact_keys": tuple(redact_keys) if redact_keys is not None else None,
            "spool_dir": os.fspath(spool_dir) if spool_dir is not None else None,
            "only_root_spans": only_root_spans,
            "rows": rows,
            "requests_per_minute": requests_per_minute,
            "shutdown_timeout": shutdown_timeout,
            "before_send": before_send,
            "gateway": gateway,
            "gateway_token": _fingerprint(gateway_token),
            **exporter_options,
        }.items()
        if value is not None
    }
    unknown = sorted(set(exporter_options) - EXPORTER_OPTIONS)
    if unknown:
        raise TypeError(f"configure() got unknown options: {', '.join(unknown)}")
    for name, flag in (("capture_content", capture_content), ("only_root_spans", only_root_spans)):
        if flag is not None and not isinstance(flag, bool):
            raise TypeError(f"configure({name}=...) must be True or False, got {flag!r}")
    if tracer_provider is not None and not isinstance(tracer_provider, TracerProvider):
        raise TypeError(
            "configure(tracer_provider=...) must be an SDK TracerProvider, got "
            f"{type(tracer_provider).__name__}"
        )
    CaptureSettings.from_env()  # a bad RESPAN_* capture variable fails here, by name
    with _configure_lock:
        if sdk_disabled():
            logger.debug("respan_otel: OTEL_SDK_DISABLED=true; configure() does nothing")
            return Respan(tracer_provider or TracerProvider(), None, None, options)
        in_use = tracer_provider or otel_trace.get_tracer_provider()
        existing = _handles.get(in_use) if isinstance(in_use, TracerProvider) else None
        if existing is not None and not existing.closed:
            if existing.options != options:
                logger.warning(
                    "respan_otel: configure() was already called for this provider with "
                    "other options; the first configuration stays in force"
                )
            _latest = existing
            return existing

        # Build (and so validate) everything before touching any provider, so a bad
        # option fails here, with or without an API key, and changes nothing.
        bound = _shutdown_bound(shutdown_timeout)
        target = gateway_url(gateway)
        exporter = (
            RespanDatasetExporter(
                api_key=api_key,
                base_url=base_url,
                dataset_id=dataset_id,
                spool_dir=spool_dir,
                only_root_spans=only_root_spans,
                rows=rows,
                requests_per_minute=requests_per_minute,
                before_send=before_send,
                redact_keys=redact_keys,
                **exporter_options,
            )
            if target is None
            else None
        )
        processor: SpanProcessor | None = None
        if exporter is not None and exporter.sending:
            processor = DatasetSpanProcessor(exporter, shutdown_timeout=bound)
        elif target is not None:  # the gateway holds the key and the budget: send OTLP there
            processor = gateway_processor(target, gateway_token)
        capture = _capture_settings(capture_content, redact_keys)

        provider = tracer_provider or _provider_in_use(service_name)
        if service_name and provider.resource.attributes.get(SERVICE_NAME) != service_name:
            logger.warning(
                "respan_otel: configure(service_name=%r) is ignored: the tracer provider in "
                "use already has service.name %r",
                service_name,
                provider.resource.attributes.get(SERVICE_NAME),
            )
        if capture is not None:
            set_capture_settings(capture)
        if provider not in _propagating:
            provider.add_span_processor(PropagationSpanProcessor())
            _propagating[provider] = True
        if processor is not None:
            slot = _slots.get(provider)
            if slot is None:
                slot = _slots[provider] = _ProcessorSlot()
                provider.add_span_processor(slot)
            slot.target = processor
        handle = Respan(provider, exporter if processor else None, processor, options)
        _handles[provider] = handle
        _latest = handle
        reset_tracer_cache()
        if processor is not None:
            atexit.register(_shutdown_at_exit, weakref.ref(handle))
        return handle


def _fingerprint(api_key: str | None) -> str | None:
    """Stands for the key in ``options`` (kept to compare calls), never the key itself."""
    if api_key is None:
        return None
    return "sha256:" + hashlib.sha256(api_key.encode()).hexdigest()[:12]


def _provider_in_use(service_name: str | None) -> TracerProvider:
    current = otel_trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    attributes = {SERVICE_NAME: service_name} if service_name else {}
    provider = TracerProvider(
        resource=Resource.create(attributes), id_generator=EntropyIdGenerator()
    )
    otel_trace.set_tracer_provider(provider)
    if otel_trace.get_tracer_provider() is not provider:
        # someone else's non-SDK provider is global; ours still works when passed around
        logger.warning(
            "respan_otel: the global tracer provider is not an SDK TracerProvider and "
            "cannot be replaced; pass tracer_provider= to configure()"
        )
    return provider


def _capture_settings(
    capture: bool | None, redact_keys: Sequence[str] | None
) -> CaptureSettings | None:
    """Capture settings with the arguments applied, or ``None`` when none were given."""
    if capture is None and redact_keys is None:
        return None
    base = CaptureSettings.from_env()
    return CaptureSettings(
        capture_content=base.capture_content if capture is None else capture,
        redact_keys=base.redact_keys
        if redact_keys is None
        else base.redact_keys + check_redact_keys(redact_keys),
        max_field_bytes=base.max_field_bytes,
        max_stream_items=base.max_stream_items,
        disabled=base.disabled,
    )


def _shutdown_bound(given: float | None) -> float:
    if given is not None:
        if isinstance(given, bool) or not isinstance(given, (int, float)):
            raise TypeError(f"shutdown_timeout={given!r} must be a number of seconds")
        if not given > 0 or not math.isfinite(given):
            raise ValueError(f"shutdown_timeout={given!r} must be a finite number of seconds > 0")
        return float(given)
    raw = os.environ.get(ENV_SHUTDOWN_TIMEOUT_SECONDS)
    if raw is None or not raw.strip():
        return DEFAULT_SHUTDOWN_TIMEOUT_SECONDS
    return parse_float(ENV_SHUTDOWN_TIMEOUT_SECONDS, raw, minimum=0)


def _shutdown_at_exit(reference: weakref.ref[Respan]) -> None:
    handle = reference()
    if handle is not None:
        handle.shutdown()


def flush(timeout_seconds: float = 30.0) -> bool:
    """Flush what the last ``configure()`` set up; True if nothing was configured."""
    return _latest.flush(timeout_seconds) if _latest is not None else True


def shutdown() -> None:
    """Shut down what the last ``configure()`` set up (bounded; idempotent)."""
    if _latest is not None:
        _latest.shutdown()


def flush_after(func: Callable[P, R] | None = None, /, *, timeout_seconds: float = 10.0) -> Any:
    """Flush after every call of ``func``: for serverless handlers and short jobs.

    A process that is frozen or killed between invocations (AWS Lambda, Cloud Run jobs)
    would otherwise keep its last spans in memory. Works on sync and async handlers;
    for async ones the flush runs in a worker thread, so the event loop never blocks::

        @respan_otel.flush_after
        def handler(event, context): ...
    """

    def decorate(target: Callable[P, R]) -> Callable[P, R]:
        if inspect.iscoroutinefunction(target):

            @functools.wraps(target)
            async def run_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                try:
                    return await target(*args, **kwargs)
                finally:
                    await asyncio.to_thread(flush, timeout_seconds)

            return run_async  # type: ignore[return-value]

        @functools.wraps(target)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return target(*args, **kwargs)
            finally:
                flush(timeout_seconds)

        return run

    return decorate if func is None else decorate(func)
