"""Active/passive: the active gateway is killed, senders fail over, nothing acknowledged is lost."""

from __future__ import annotations

from opentelemetry.sdk.trace.export import SpanExportResult

from respan_otel import span
from tests.gateway.conftest import TOKEN, otlp_to, wait_for
from tests.gateway.process import GatewayProcess


def send_batches(exporter, url: str, first: int, batches: int) -> list[int]:
    """Send ``batches`` of 50 spans to ``url``; the ``i`` of every acknowledged span."""
    sender = otlp_to(url)
    acked: list[int] = []
    for batch in range(batches):
        exporter.clear()
        numbers = range(first + batch * 50, first + batch * 50 + 50)
        for i in numbers:
            with span("item", input={"i": i}):
                pass
        if sender.export(exporter.get_finished_spans()) is SpanExportResult.SUCCESS:
            acked.extend(numbers)
    sender.shutdown()
    return acked


def test_failover_to_the_passive_gateway_loses_no_acknowledged_span(
    local, client, dataset, exporter, make_gateway, tmp_path
):
    active = GatewayProcess(
        tmp_path / "active",
        {
            "RESPAN_API_KEY": local.api_key,
            "RESPAN_BASE_URL": local.base_url,
            "RESPAN_DATASET_ID": dataset.id,
            "RESPAN_GATEWAY_TOKENS": TOKEN,
            "RESPAN_REQUESTS_PER_MINUTE": "0",
        },
    ).start()
    passive = make_gateway(directory=tmp_path / "passive")
    acked = send_batches(exporter, active.url, 0, 3)
    active.kill()  # its last requests are acknowledged but still in its journal
    assert list((tmp_path / "active" / "journal").glob("*.otlp"))
    acked += send_batches(exporter, passive.url, 10_000, 3)  # the balancer fails over
    wait_for(lambda: passive.snapshot()["delivered_rows"] == 150)
    # the failed gateway's journal is delivered when it (or its disk, elsewhere) restarts
    active.start()
    wait_for(lambda: active.stats()["queued_spans"] == 0)
    active.stop()
    stored = [log.input["i"] for log in client.datasets.logs.iter(dataset.id)]
    assert len(acked) == 300
    assert set(acked) <= set(stored)
