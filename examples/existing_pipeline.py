"""An app that already has an OpenTelemetry pipeline adds Respan datasets in one line.

The app below ships its spans somewhere already (a console exporter here; OTLP to a
collector, Jaeger or Tempo in real life). ``respan_otel.configure()`` attaches to that
provider instead of replacing it: every span still goes where it went, and the ones
with dataset content also become Respan dataset logs. Runs offline: without
``RESPAN_API_KEY`` it starts a local Respan-compatible server in-process.
"""

from __future__ import annotations

import contextlib
import io
import json
import os

from opentelemetry import trace as otel_trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

import respan_otel
from respan_otel import RespanClient, trace
from respan_otel.local import LocalRespan

# --- the app's existing tracing setup, untouched ----------------------------------------
console_output = io.StringIO()
provider = TracerProvider(resource=Resource.create({"service.name": "billing-bot"}))
provider.add_span_processor(
    SimpleSpanProcessor(
        ConsoleSpanExporter(out=console_output, formatter=lambda s: s.to_json(indent=None) + "\n")
    )
)
otel_trace.set_tracer_provider(provider)
tracer = otel_trace.get_tracer("billing-bot")


@trace(kind="workflow")
def explain_invoice(invoice_id: str) -> str:
    with tracer.start_as_current_span("db.load_invoice") as db_span:  # plain DB span
        db_span.set_attribute("db.system", "postgresql")
    return f"Invoice {invoice_id} covers one month of the Pro plan."


def main() -> None:
    api_key = os.environ.get("RESPAN_API_KEY")
    with contextlib.ExitStack() as stack:
        if api_key:
            base_url = os.environ.get("RESPAN_BASE_URL", "https://api.respan.ai")
        else:
            server = stack.enter_context(LocalRespan())
            api_key, base_url = server.api_key, server.base_url
        client = stack.enter_context(RespanClient(api_key=api_key, base_url=base_url))
        dataset = client.datasets.get_or_create("billing-bot runs")

        # --- the one line ---------------------------------------------------------------
        respan = respan_otel.configure(api_key=api_key, base_url=base_url, dataset_id=dataset.id)

        for invoice in ("INV-1001", "INV-1002", "INV-1003"):
            explain_invoice(invoice)
        respan.flush()

        console_spans = [json.loads(line) for line in console_output.getvalue().splitlines()]
        logs = list(client.datasets.logs.iter(dataset.id))
        respan.shutdown()
    print(f"existing console exporter received {len(console_spans)} spans:")
    for item in console_spans:
        print(f"  {item['name']}")
    print(f"Respan dataset {dataset.name!r} received {len(logs)} logs:")
    for log in logs:
        print(f"  {log.metadata['span_name']}: {json.dumps(log.input)} -> {json.dumps(log.output)}")
    print("provider replaced:", otel_trace.get_tracer_provider() is not provider)


if __name__ == "__main__":
    main()
