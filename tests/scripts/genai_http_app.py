"""Child process for tests/test_http_instrumentation.py: an app under RequestsInstrumentor.

Run as ``python genai_http_app.py CONFIG_JSON`` in a fresh interpreter (the instrumentor
patches ``requests`` globally). CONFIG_JSON: ``app`` (the root URL of a server the app
calls), ``respan`` (a LocalRespan base URL), ``api_key``, ``dataset`` (a dataset *name*,
so the exporter also looks it up and creates it), ``session`` and ``mode``, where the
exporter runs:

* ``batch``: ``BatchSpanProcessor``, so export happens on its worker thread;
* ``simple``: ``SimpleSpanProcessor``, so export happens in the app thread;
* ``direct``: a bare processor that calls ``export()`` in the app thread without the
  SDK's ``suppress_instrumentation`` (as some vendors' processors do), so only the
  exporter's own suppression keeps its requests untraced.

Phase 1 makes two plain ``requests`` calls (inside ``propagate()``) and waits until the
exporter has seen their spans; phase 2 runs a ``@trace`` workflow that makes one more and
waits for its log. In ``batch`` mode the script waits for the worker instead of calling
``force_flush()``, which would export in the calling thread. It prints one ``RESULT {json}`` line:
every span the in-memory exporter got (with ``span_to_log`` is-None), the exporter's
stats after each phase and the threads ``export()`` ran on.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar

RESULT_MARK = "RESULT "


def wait_until(condition: Callable[[], bool], *, timeout: float = 10.0) -> None:
    """Poll until ``condition()`` holds; fail loudly when it never does."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for the exporter")
        time.sleep(0.005)


def main() -> None:
    config = json.loads(sys.argv[1])

    import requests
    from opentelemetry import trace
    from opentelemetry.instrumentation.requests import RequestsInstrumentor
    from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    import respan_otel
    from respan_otel._export._mapping import span_to_log

    class RecordingExporter(respan_otel.RespanDatasetExporter):
        """Notes the thread of every export() call."""

        threads: ClassVar[set[str]] = set()

        def export(self, spans: Any) -> Any:
            self.threads.add(threading.current_thread().name)
            return super().export(spans)

    class DirectProcessor(SpanProcessor):
        """Exports each span as it ends, in the ending thread, with no suppression.

        A span that ends inside export() (the exporter's own request, traced) is not
        exported again: that would deadlock on the exporter's lock instead of failing.
        """

        def __init__(self, exporter: respan_otel.RespanDatasetExporter) -> None:
            self.exporter = exporter
            self.exporting = threading.local()

        def on_end(self, span: ReadableSpan) -> None:
            if getattr(self.exporting, "active", False):
                return
            self.exporting.active = True
            try:
                self.exporter.export((span,))
            finally:
                self.exporting.active = False

        def shutdown(self) -> None:
            self.exporter.shutdown()

    provider = TracerProvider()
    provider.add_span_processor(respan_otel.PropagationSpanProcessor())
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    exporter = RecordingExporter(
        api_key=config["api_key"],
        base_url=config["respan"],
        requests_per_minute=0,
    )
    mode = config["mode"]
    if mode == "batch":
        processor: SpanProcessor = BatchSpanProcessor(exporter, schedule_delay_millis=20)
    elif mode == "simple":
        processor = SimpleSpanProcessor(exporter)
    elif mode == "direct":
        processor = DirectProcessor(exporter)
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    RequestsInstrumentor().instrument(tracer_provider=provider)

    app = config["app"]
    with respan_otel.propagate(session_id=config["session"]):
        statuses = [
            requests.get(app + "/health", timeout=10).status_code,
            requests.post(app + "/v1/items", json={"name": "widget"}, timeout=10).status_code,
        ]
    wait_until(lambda: exporter.stats.snapshot()["skipped_spans"] == 2)
    after_http_only = exporter.stats.snapshot()

    @respan_otel.trace(name="search", kind="workflow", dataset=config["dataset"])
    def search(query: str) -> dict[str, Any]:
        response = requests.post(app + "/search", json={"q": query}, timeout=10)
        return {"status": response.status_code, "hits": response.json()["hits"]}

    with respan_otel.propagate(session_id=config["session"]):
        result = search("opentelemetry")
    wait_until(lambda: exporter.stats.snapshot()["exported"] == 1)
    provider.shutdown()
    RequestsInstrumentor().uninstrument()

    spans = [
        {
            "name": span.name,
            "kind": span.kind.name,
            "attributes": {
                key: value if not isinstance(value, tuple) else list(value)
                for key, value in (span.attributes or {}).items()
            },
            "is_log": span_to_log(span) is not None,
        }
        for span in memory.get_finished_spans()
    ]
    report = {
        "statuses": statuses,
        "result": result,
        "spans": spans,
        "after_http_only": after_http_only,
        "final": exporter.stats.snapshot(),
        "export_threads": sorted(exporter.threads),
        "main_thread": threading.main_thread().name,
    }
    print(RESULT_MARK + json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
