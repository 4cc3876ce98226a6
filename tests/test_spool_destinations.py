"""Apps of one user that send to different servers or organizations share the default
spool location, never each other's logs.

Observed in the benchmarks: two processes on one machine, each with its own server and
key, both spooling to the default per-user spool; the one whose server was up claimed
the other's spooled batches and sent them to its own server with its own key, which
refused them (unknown dataset) and set them aside: 613 logs never reached the server
they were for. Logs must only ever go where the app that made them sends.
"""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.export import SpanExportResult

from respan_otel import RespanClient, RespanDatasetExporter, span
from respan_otel.local import LocalRespan
from tests.ports import free_port


@pytest.fixture
def default_spool(monkeypatch, tmp_path):
    monkeypatch.delenv("RESPAN_SPOOL_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "respan-otel" / "spool"


def finished_spans(exporter, count: int, tag: str):
    exporter.clear()
    for i in range(count):
        with span(tag, input={"i": i}):
            pass
    return exporter.get_finished_spans()


def test_an_app_never_replays_another_destinations_spooled_logs(default_spool, exporter):
    with LocalRespan() as up:
        with RespanClient(api_key=up.api_key, base_url=up.base_url) as client:
            dataset = client.datasets.create(name="mine", is_empty=True).id
        # app A: its server is down, so everything it exports goes to the spool
        down_url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
        app_a = RespanDatasetExporter(
            api_key="key-of-another-org",
            base_url=down_url,
            dataset_id="their-dataset",
            export_timeout=2.0,
        )
        app_a.export(finished_spans(exporter, 20, "theirs"))
        app_a.shutdown()
        assert app_a.stats.snapshot()["spooled"] == 20
        # app B, same user and default spool, its own server and key: sends only its own
        app_b = RespanDatasetExporter(api_key=up.api_key, base_url=up.base_url, dataset_id=dataset)
        assert app_b.export(finished_spans(exporter, 5, "mine")) is SpanExportResult.SUCCESS
        assert app_b.force_flush(10_000)
        app_b.shutdown()
        counts = app_b.stats.snapshot()
        with RespanClient(api_key=up.api_key, base_url=up.base_url) as client:
            stored = list(client.datasets.logs.iter(dataset))
    assert counts["replayed"] == 0, counts
    assert counts["dead_lettered"] == 0, counts
    assert sorted(log.input["i"] for log in stored) == list(range(5))
    # A's logs still wait in A's own folder, for A's server
    assert app_a.spool is not None
    assert app_b.spool is not None
    assert app_a.spool.directory != app_b.spool.directory
    assert app_a.spool.directory.parent == app_b.spool.directory.parent == default_spool
    assert app_a.spool.status()["dead"]["logs"] == 0
    assert sum(c["logs"] for c in app_a.spool.status()["datasets"].values()) == 20
