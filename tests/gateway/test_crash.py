"""``kill -9`` of a gateway process mid-stream: no acknowledged span is lost."""

from __future__ import annotations

import threading

from opentelemetry.sdk.trace.export import SpanExportResult

from respan_otel import span
from tests.gateway.conftest import TOKEN, otlp_to, wait_for
from tests.gateway.process import GatewayProcess


def test_kill_9_mid_stream_loses_no_acknowledged_span(local, client, dataset, exporter, tmp_path):
    gateway = GatewayProcess(
        tmp_path / "gateway",
        {
            "RESPAN_API_KEY": local.api_key,
            "RESPAN_BASE_URL": local.base_url,
            "RESPAN_DATASET_ID": dataset.id,
            "RESPAN_GATEWAY_TOKENS": TOKEN,
            "RESPAN_REQUESTS_PER_MINUTE": "0",
        },
    ).start()
    sender = otlp_to(gateway.url)
    acknowledged: list[int] = []
    enough = threading.Event()
    stop = threading.Event()

    def send() -> None:
        batch = 0
        while not stop.is_set():
            exporter.clear()
            for i in range(batch * 50, batch * 50 + 50):
                with span("item", input={"i": i}):
                    pass
            if sender.export(exporter.get_finished_spans()) is SpanExportResult.SUCCESS:
                acknowledged.extend(range(batch * 50, batch * 50 + 50))
            batch += 1
            if len(acknowledged) >= 200:
                enough.set()

    thread = threading.Thread(target=send)
    thread.start()
    try:
        assert enough.wait(30)
        gateway.kill()
        journalled = list((tmp_path / "gateway" / "journal").glob("*.otlp"))
        assert journalled, "the kill should find acknowledged spans still in the journal"
        gateway.start()
        wait_for(lambda: len(acknowledged) >= 400, timeout=30)
    finally:
        stop.set()
        thread.join(30)
    sender.shutdown()
    acked = set(acknowledged)
    wait_for(lambda: gateway.stats()["queued_spans"] == 0, timeout=30)
    gateway.stop()
    stored = [log.input["i"] for log in client.datasets.logs.iter(dataset.id)]
    assert acked <= set(stored), f"{len(acked - set(stored))} acknowledged spans were lost"
