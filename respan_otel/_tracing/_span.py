"""``span()``, a ``with`` block around one span, and ``update_current_span()``."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any

from opentelemetry import trace as otel_trace

from respan_otel._log import log_internal_error, logger
from respan_otel._settings import capture_settings
from respan_otel._tracing._checks import (
    DEFAULT_KIND,
    Kind,
    check_dataset,
    check_kind,
    check_metadata,
    check_metrics,
)
from respan_otel._tracing._context import NOT_ENTERED, enter_scope, exit_scope
from respan_otel._tracing._handle import (
    RespanSpan,
    active_tracer,
    current_handle,
    existing_metadata,
    record_end,
    start,
)
from respan_otel._unset import UNSET


class SpanContextManager:
    """What ``span(...)`` returns: a ``with`` / ``async with`` block around one span.

    Every entry opens its own span, so the same object can be re-entered or entered by
    several tasks at once; each exit ends the span its own context entered.
    """

    __slots__ = ("_dataset", "_input", "_kind", "_metadata", "_metrics", "_name", "_open")

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
        # spans entered and not yet exited, in any context: an exit from another thread
        # cannot restore the entering context, but it still ends a span (as OTel does)
        self._open: list[RespanSpan] = []

    def __enter__(self) -> RespanSpan:
        tracer = active_tracer()
        if tracer is not None:
            try:
                handle, ctx = start(tracer, self._name, self._kind, self._dataset, self._metadata)
                if self._input is not UNSET:
                    handle.set_input(self._input)
                if self._metrics:
                    handle.set_metrics(self._metrics)
                enter_scope(self, ctx, handle)
                self._open.append(handle)
                return handle
            except Exception as exc:
                log_internal_error("span() start", exc)
        return RespanSpan(otel_trace.INVALID_SPAN, capture_settings())

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        handle = exit_scope(self)
        if handle is NOT_ENTERED:
            if not self._open:
                return  # pass-through entry: no span was opened
            handle = self._open[-1]
            logger.debug(
                "respan_otel: span(%r) exited in another thread or task than it was entered "
                "in; ending it there (enter and exit in one context to keep nesting right)",
                self._name,
            )
        try:
            self._open.remove(handle)  # type: ignore[arg-type]
        except ValueError:
            return  # already ended by an exit in another context
        record_end(handle.span, exc)  # type: ignore[attr-defined]

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
    An exception leaving the block is recorded and re-raised unchanged. ``dataset=``
    also applies to every span started inside the block, unless one names its own.
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
        handle = RespanSpan(current, capture_settings(), existing_metadata(current))
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
