"""One app process of the fleet benchmark (run by ``gateway_fleet.py`` with a JSON argument).

``gateway`` mode: the stock SDK and OTLP/HTTP exporter (configured by the standard
``OTEL_EXPORTER_OTLP_*`` variables) send to the gateway; acknowledged span ids are kept.
``inprocess`` mode: ``respan_otel.configure()`` exports straight to the (org-limited)
API with this process's own key, from ``RESPAN_*`` variables.
Either way ``@trace`` makes one row per call, at an even ``rate`` for ``duration`` seconds
from ``start_at``; the row's input carries the wall-clock time it was made.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult

import respan_otel
from respan_otel import PropagationSpanProcessor, trace

args = json.loads(sys.argv[1])
acked: list[str] = []
stats: dict[str, Any] = {}

if args["mode"] == "gateway":
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    class Recording(OTLPSpanExporter):
        """The stock exporter, remembering which spans the gateway acknowledged."""

        def export(self, spans: Any) -> SpanExportResult:
            result = super().export(spans)
            if result is SpanExportResult.SUCCESS:
                acked.extend(f"{span.context.span_id:016x}" for span in spans)
            return result

    provider = TracerProvider()
    provider.add_span_processor(PropagationSpanProcessor())
    provider.add_span_processor(BatchSpanProcessor(Recording()))
    otel_trace.set_tracer_provider(provider)
else:
    handle = respan_otel.configure()


@trace(kind="workflow")
def handle_request(request_id: str, sent: float) -> str:
    return "ok"


count = int(args["rate"] * args["duration"])
start_at = args["start_at"]
late = max(0.0, time.time() - start_at)
for i in range(count):
    delay = start_at + i / args["rate"] - time.time()
    if delay > 0:
        time.sleep(delay)
    handle_request(f"{args['worker']}-{i}", time.time())

if args["mode"] == "gateway":
    provider.shutdown()
else:
    handle.shutdown()
    stats = handle.stats
print(json.dumps({"offered": count, "acked": acked, "late": late, "stats": stats}))
