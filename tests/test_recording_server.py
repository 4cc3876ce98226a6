"""What an independent, configured process puts on the wire: the bulk requests a
recording server sees, that the exporter's own HTTP calls never become spans, and that
``RESPAN_REQUESTS_PER_MINUTE`` keeps a process clear of 429s end to end."""

from __future__ import annotations

import re

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from respan_otel import RespanClient, RespanDatasetExporter, __version__, span
from respan_otel.local import LocalRespan
from tests.faulty_server import FaultyServer, RecordedRequest, Reply, json_reply
from tests.ports import free_port
from tests.scripts.harness import (
    DATASET_ID,
    child_env,
    env_for,
    local_respan,
    logs_of,
    run,
)


def bulk_ok(request: RecordedRequest) -> Reply:
    count = len(request.json()["logs"])
    return json_reply(201, success_count=count, error_count=0, errors=[])


def test_an_independent_script_sends_correct_bulk_requests():
    key = "sk-recorded-0123456789"
    with FaultyServer(handler=bulk_ok) as server:
        result = run(
            """
import respan_otel
from respan_otel import trace

handle = respan_otel.configure()


@trace(kind="task")
def work(i):
    return {"square": i * i}


for i in range(1234):
    work(i)
report(stats_before_exit=handle.stats)
# no flush: the rest goes out at exit
""",
            child_env(RESPAN_API_KEY=key, RESPAN_BASE_URL=server.url, RESPAN_DATASET_ID=DATASET_ID),
        ).check()
        requests = server.requests
    assert result.warnings() == []
    assert [len(r.json()["logs"]) for r in requests] == [500, 500, 234], (
        "the batch processor configure() sets up fills whole requests"
    )
    seen: list[int] = []
    for request in requests:
        assert request.method == "POST"
        assert request.path == f"/api/datasets/{DATASET_ID}/logs/bulk/"
        assert request.header("Authorization") == f"Bearer {key}"
        assert request.header("User-Agent") == f"respan-otel/{__version__}"
        assert request.header("Content-Type") == "application/json"
        assert int(request.header("Content-Length") or -1) == len(request.body)
        body = request.json()
        assert list(body) == ["logs"]
        for log in body["logs"]:
            i = log["input"]["i"]
            seen.append(i)
            assert log["input"] == {"i": i}
            assert log["output"] == {"square": i * i}
            metadata = log["metadata"]
            assert metadata["log_type"] == "task"
            assert metadata["span_name"] == "work"
            assert re.fullmatch(r"[0-9a-f]{32}", metadata["trace_id"])
            assert re.fullmatch(r"[0-9a-f]{16}", metadata["span_id"])
            latency = log["metrics"]["latency"]
            assert isinstance(latency, (int, float))
            assert 0 <= latency < 5
            assert key not in request.body.decode()
    assert sorted(seen) == list(range(1234)), "each span in exactly one request"


def spool_logs(directory, key: str, dataset_id: str, route_spans, count: int) -> None:
    """Leave ``count`` logs in a spool directory, as a process facing a dead server would."""
    exporter = RespanDatasetExporter(
        api_key=key,
        base_url=f"http://127.0.0.1:{free_port()}",  # nothing listens there
        dataset_id=dataset_id,
        spool_dir=directory,
        export_timeout=0.5,
        requests_per_minute=0,
    )
    route_spans(SimpleSpanProcessor(exporter))
    for i in range(count):
        with span("spooled", input={"spooled": i}):
            pass
    exporter.shutdown()
    assert exporter.stats.snapshot()["spooled"] == count


def test_the_exporters_http_calls_never_become_spans(tmp_path, route_spans):
    """With ``requests`` auto-instrumented on the same provider, exporting N spans (a full
    batch from the worker thread, the rest from ``flush()`` on the main thread), resolving
    a dataset by name, and replaying a spool (which ``flush()`` does outside the SDK
    processor's own suppression) leaves exactly N spans, plus the one the app's own
    request makes to prove the instrumentation is live."""
    pytest.importorskip("opentelemetry.instrumentation.requests")
    with local_respan() as (server, client):
        spooled_into = client.datasets.create(name="spooled", is_empty=True)
        spool_logs(tmp_path, server.api_key, spooled_into.id, route_spans, 4)
        result = run(
            f"""
import requests
import respan_otel
from opentelemetry import trace as otel
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from respan_otel import trace

memory = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(memory))
otel.set_tracer_provider(provider)
RequestsInstrumentor().instrument()
handle = respan_otel.configure()
replayed = respan_otel.flush(10)  # nothing traced yet: only the spool is sent


@trace(dataset="instrumented")
def work(i):
    return i


for i in range(600):
    work(i)
first = respan_otel.flush(10)
reply = requests.get(
    {server.base_url!r} + "/api/datasets/",
    headers={{"Authorization": "Bearer {server.api_key}"}},
    timeout=5,
)
for i in range(600, 603):
    work(i)
second = respan_otel.flush(10)
respan_otel.shutdown()
spans = memory.get_finished_spans()
report(
    flushed=[replayed, first, second],
    app_status=reply.status_code,
    work=sum(1 for s in spans if s.name == "work"),
    http=[s.name for s in spans if s.name != "work"],
    stats=handle.stats,
)
""",
            env_for(server, RESPAN_SPOOL_DIR=str(tmp_path)),
        ).check()
        (dataset,) = [d for d in client.datasets.list() if d.name == "instrumented"]
        stored = len(logs_of(client, dataset.id))
        replayed = [log.input for log in logs_of(client, spooled_into.id)]
    data = result.data
    assert data["flushed"] == [True, True, True]
    assert data["app_status"] == 200
    assert data["work"] == 603
    assert data["http"] == ["GET"], "only the app's own request is traced"
    assert data["stats"]["exported"] == 603 + 4
    assert data["stats"]["skipped_spans"] == 1, "the app's GET span, and no span of ours"
    assert stored == 603
    assert sorted(item["spooled"] for item in replayed) == [0, 1, 2, 3]


def test_requests_per_minute_is_honoured_end_to_end_without_a_single_429(tmp_path):
    """A server limiting 3 requests per (shortened) window, and the exporter's pacer
    given the same window: the limit comes from ``RESPAN_REQUESTS_PER_MINUTE``.

    The pacer is rebuilt on the configured exporter with the production structure: the
    window plus ``MARGIN_SECONDS`` (the pacer adds that margin to its default 60 s
    window; it stamps a request before sending, the server on arrival, and the first
    request of a connection arrives later than the next ones)."""
    window = 1.0
    db = tmp_path / "paced.db"
    with local_respan(db=db) as (unlimited, setup):  # no limit yet: set-up costs no slot
        dataset = setup.datasets.create(name="paced", is_empty=True)
        key = unlimited.api_key
    server = LocalRespan(db=db, api_key=key, rate_limit_per_minute=3)
    server._rate_window_seconds = window
    with server, RespanClient(api_key=key, base_url=server.base_url) as client:
        result = run(
            f"""
import logging

import respan_otel
import respan_otel._setup
from respan_otel import trace
from respan_otel._export._pacer import RequestPacer

handle = respan_otel.configure(batch_size=50)
exporter = respan_otel._setup._latest.exporter
limit = exporter.settings.requests_per_minute
pacer = RequestPacer(limit, window={window})  # the pacer adds its margin
exporter.delivery.pacer = exporter.delivery.resolver.pacer = pacer
logging.getLogger("respan_otel").setLevel(logging.DEBUG)  # every reply's status


@trace
def work(i):
    return i


for i in range(200):
    work(i)
report(limit=limit, flushed=respan_otel.flush(20), stats=handle.stats)
""",
            env_for(server, dataset.id, RESPAN_REQUESTS_PER_MINUTE="3"),
        ).check()
        # 3 requests, then 1 a window later: 2 slots are free for 2 pages of reads
        stored = sorted(log.input["i"] for log in logs_of(client, dataset.id))
    data = result.data
    assert data["limit"] == 3
    assert data["flushed"] is True
    assert "-> 429" not in result.stderr
    assert "Rate limit" not in result.stderr
    assert data["stats"]["requests"] == 4, "200 logs in 4 requests of 50, none repeated"
    assert data["stats"]["exported"] == 200
    assert result.elapsed > window, "the fourth request waited for the window"
    assert stored == list(range(200))
