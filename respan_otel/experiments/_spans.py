"""Per-row spend read from the spans of the row's trace: tokens and cost.

A small span processor, installed once on the SDK provider, keeps the finished spans of
the traces a run is watching (and nothing else), so each row's totals come from what its
task and any instrumentation beneath it actually recorded.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from typing import Final

from opentelemetry import trace as otel_trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider

from respan_otel._export._rows import RowBuilder
from respan_otel._log import logger
from respan_otel._settings import sdk_disabled
from respan_otel._tracing._handle import reset_tracer_cache
from respan_otel._tracing._processor import PropagationSpanProcessor

SPEND_FIELDS: Final = (
    "latency",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cost",
    "llm_calls",
)


class TraceCollector(SpanProcessor):
    """Keeps the finished spans of watched traces until the row takes them."""

    def __init__(self) -> None:
        self._watched: dict[int, list[ReadableSpan]] = {}
        self._lock = threading.Lock()

    def watch(self, trace_id: int) -> None:
        with self._lock:
            self._watched.setdefault(trace_id, [])

    def take(self, trace_id: int) -> list[ReadableSpan]:
        """The spans of ``trace_id`` finished so far; stops watching it."""
        with self._lock:
            return self._watched.pop(trace_id, [])

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        context = span.context
        if context is None or not self._watched:  # the common case: no run, no cost
            return
        with self._lock:
            spans = self._watched.get(context.trace_id)
            if spans is not None:
                spans.append(span)


_collectors: weakref.WeakKeyDictionary[TracerProvider, TraceCollector] = weakref.WeakKeyDictionary()
_collectors_lock = threading.Lock()


def collector() -> TraceCollector | None:
    """The collector on the global SDK provider; ``None`` when spans cannot be read.

    With no provider set at all, one is set (with no exporter, so nothing is sent) so the
    task's spans are recorded and their tokens can be read: call ``configure()`` first to
    send them somewhere as well.
    """
    if sdk_disabled():  # OTEL_SDK_DISABLED=true: nothing is traced, so nothing to read
        return None
    provider = otel_trace.get_tracer_provider()
    if isinstance(provider, otel_trace.ProxyTracerProvider):
        created = TracerProvider()
        created.add_span_processor(PropagationSpanProcessor())
        otel_trace.set_tracer_provider(created)  # a no-op when another thread won the race
        reset_tracer_cache()
        provider = otel_trace.get_tracer_provider()
        logger.debug("respan_otel: run_experiment set an SDK tracer provider (no exporter)")
    if not isinstance(provider, TracerProvider):
        logger.info(
            "respan_otel: the global tracer provider is %s, not the OpenTelemetry SDK's, so "
            "experiment rows carry no trace id, tokens or cost; set an SDK TracerProvider "
            "(respan_otel.configure() does) to record them",
            type(provider).__name__,
        )
        return None
    with _collectors_lock:
        found = _collectors.get(provider)
        if found is None:
            found = _collectors[provider] = TraceCollector()
            provider.add_span_processor(found)
        return found


def spend(spans: Sequence[ReadableSpan]) -> dict[str, float]:
    """The root row's latency, tokens, cost and ``llm_calls``, as the exporter's rows add
    them up from the spans beneath (one count per model call, cost from the price table
    when a call reports none); empty when the root has not ended."""
    built = RowBuilder(rows="roots", capture_content=False).build(spans)
    for row in built.rows:
        if "parent_span_id" not in row.body["metadata"]:
            metrics = row.body["metrics"]
            return {k: float(metrics[k]) for k in SPEND_FIELDS if k in metrics}
    return {}
