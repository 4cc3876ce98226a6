"""A fleet of app processes sending plain OTLP to one gateway, which delivers the rows.

Offline: a local Respan-compatible server stands in for Respan, the gateway runs here on
a free port, and three app processes use only the stock OpenTelemetry SDK and OTLP/HTTP
exporter (no respan code for export) plus ``@trace`` for content. Run it with
``python examples/gateway/fleet.py`` (needs ``pip install 'respan-otel[gateway]'``).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from respan_otel import RespanClient, RespanDatasetExporter
from respan_otel.gateway import Gateway
from respan_otel.local import LocalRespan

APP = """
import os, sys
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from respan_otel import PropagationSpanProcessor, propagate, trace as traced

provider = TracerProvider()
provider.add_span_processor(PropagationSpanProcessor())
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))  # OTEL_EXPORTER_OTLP_*
trace.set_tracer_provider(provider)

@traced(kind="workflow")
def answer(question: str) -> str:
    return question.upper()

worker = sys.argv[1]
with propagate(customer_identifier=f"worker-{worker}"):
    for i in range(5):
        answer(f"question {i} from worker {worker}")
provider.shutdown()
"""


def main() -> None:
    token = secrets.token_urlsafe(24)
    with LocalRespan() as respan, tempfile.TemporaryDirectory() as directory:
        client = RespanClient(api_key=respan.api_key, base_url=respan.base_url)
        dataset = client.datasets.create(name="fleet example", is_empty=True)
        exporter = RespanDatasetExporter(
            api_key=respan.api_key,  # only the gateway holds the Respan key
            base_url=respan.base_url,
            dataset_id=dataset.id,
            spool_dir=Path(directory) / "spool",
        )
        gateway = Gateway(directory=directory, tokens=[token], exporter=exporter, port=0).start()
        env = {
            **os.environ,
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{gateway.url}/v1/traces",
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS": f"authorization=Bearer%20{token}",
            "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "gzip",
        }
        apps = [
            subprocess.Popen([sys.executable, "-c", APP, str(worker)], env=env)
            for worker in range(3)
        ]
        for app in apps:
            app.wait(60)
        deadline = time.monotonic() + 30
        while gateway.snapshot()["delivered_rows"] < 15 and time.monotonic() < deadline:
            time.sleep(0.1)
        stats = gateway.snapshot()
        gateway.stop()
        logs = list(client.datasets.logs.iter(dataset.id))
        workers = sorted({log.metadata["customer_identifier"] for log in logs})
        print(f"Stored {len(logs)} dataset logs from {len(workers)} app processes: {workers}")
        print(
            f"gateway: received {stats['received_spans']} spans, durable "
            f"{stats['durable_spans']}, delivered {stats['delivered_rows']} rows in "
            f"{stats['upstream_requests']} request(s)"
        )
        client.close()


if __name__ == "__main__":
    main()
