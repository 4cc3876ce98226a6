"""Helpers for your own tests: see the dataset logs your code produces, with no HTTP.

Installed as a pytest plugin, so the ``respan_logs`` fixture is available in any test
suite of a project that has respan-otel installed::

    def test_the_answer_is_logged(respan_logs):
        answer("What is our refund policy?")
        (log,) = respan_logs.by_span_name("answer")
        assert log["input"] == {"question": "What is our refund policy?"}
        assert log["metadata"]["log_type"] == "workflow"

The logs are exactly what :class:`~respan_otel.RespanDatasetExporter` would send: the
same mapping, filters and ``before_send`` hook. The fixture routes the spans of the
global tracer provider (creating and setting an SDK provider if there is none) for the
duration of one test, and leaves no processor behind.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from respan_otel._export._mapping import BeforeSend, MappedLog
from respan_otel._export._rows import RowBuilder
from respan_otel._redact import get_redactor
from respan_otel._settings import RowsMode, capture_settings
from respan_otel._tracing._processor import PropagationSpanProcessor

__all__ = ["CapturedLogs", "InMemoryDatasetExporter", "SpanRouter", "respan_logs", "router_for"]


class CapturedLogs:
    """The dataset logs captured so far, in the order their spans ended."""

    def __init__(self) -> None:
        self.entries: list[MappedLog] = []
        self._lock = threading.Lock()

    def add(self, entry: MappedLog) -> None:
        with self._lock:
            self.entries.append(entry)

    @property
    def logs(self) -> list[dict[str, Any]]:
        """The log bodies, as they would be sent."""
        with self._lock:
            return [entry.body for entry in self.entries]

    def by_span_name(self, name: str) -> list[dict[str, Any]]:
        """The logs of spans called ``name``."""
        return [log for log in self.logs if log["metadata"].get("span_name") == name]

    def for_dataset(self, dataset: str | None) -> list[dict[str, Any]]:
        """The logs meant for ``dataset`` (``None``: the default dataset)."""
        with self._lock:
            return [entry.body for entry in self.entries if entry.dataset == dataset]

    def clear(self) -> None:
        with self._lock:
            self.entries.clear()

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.logs)


class InMemoryDatasetExporter(SpanExporter):
    """A ``SpanExporter`` that keeps dataset logs in memory instead of sending them."""

    def __init__(
        self,
        *,
        only_root_spans: bool = False,
        rows: RowsMode = "useful",
        before_send: BeforeSend | None = None,
        redact_keys: Sequence[str] | None = None,
    ) -> None:
        self.captured = CapturedLogs()
        keys = capture_settings().redact_keys if redact_keys is None else tuple(redact_keys)
        self.rows = RowBuilder(
            rows="roots" if only_root_spans else rows,
            redactor=get_redactor(keys),
            before_send=before_send,
        )

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        for mapped in self.rows.build(spans).rows:
            self.captured.add(mapped)
        return SpanExportResult.SUCCESS


class SpanRouter(SpanProcessor):
    """Forwards spans to processors that can be added and removed at any time.

    A ``TracerProvider`` cannot drop a processor once added; one router per provider
    lets each test attach its own and detach it afterwards.
    """

    def __init__(self) -> None:
        self._targets: tuple[SpanProcessor, ...] = ()
        self._lock = threading.Lock()

    def add(self, processor: SpanProcessor) -> None:
        with self._lock:
            self._targets = (*self._targets, processor)

    def remove(self, processor: SpanProcessor) -> None:
        with self._lock:
            self._targets = tuple(p for p in self._targets if p is not processor)

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        for target in self._targets:
            target.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        for target in self._targets:
            target.on_end(span)


_routers: weakref.WeakKeyDictionary[TracerProvider, SpanRouter] = weakref.WeakKeyDictionary()
_routers_lock = threading.Lock()


def router_for(provider: TracerProvider) -> SpanRouter:
    """The router installed on ``provider``, installing it the first time."""
    with _routers_lock:
        router = _routers.get(provider)
        if router is None:
            router = _routers[provider] = SpanRouter()
            provider.add_span_processor(router)
        return router


def _global_sdk_provider() -> TracerProvider:
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        return provider
    created = TracerProvider()
    created.add_span_processor(PropagationSpanProcessor())
    trace.set_tracer_provider(created)
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        raise RuntimeError(
            "respan_logs needs an OpenTelemetry SDK TracerProvider as the global provider"
        )
    return provider


@pytest.fixture
def respan_logs() -> Iterator[CapturedLogs]:
    """The dataset logs produced during this test, captured in memory (no HTTP)."""
    exporter = InMemoryDatasetExporter()
    processor = SimpleSpanProcessor(exporter)
    router = router_for(_global_sdk_provider())
    router.add(processor)
    try:
        yield exporter.captured
    finally:
        router.remove(processor)
