"""Delivery that never wedges and never loses (issue 11): each case observed against the
old exporter, as a test. They run over real sockets against a scripted server on
127.0.0.1 (``FaultyServer``) or the local server, with the real exporter."""

from __future__ import annotations

import json
import logging
import re
import threading
import time

import pytest
from opentelemetry.sdk.trace.export import SpanExportResult

import respan_otel._export._holding as holding_module
import respan_otel._export._processor as processor_module
import respan_otel._export._sender as sender_module
from respan_otel import DatasetSpanProcessor, RespanClient, span
from respan_otel._settings import destination_key
from respan_otel.local import LocalRespan
from tests.faulty_server import FaultyServer, RecordedRequest, Reply, json_reply
from tests.test_reliability_faults import (
    DATASET,
    KEY,
    LOGGER,
    Backend,
    Recorder,
    fault,
    hex_ids,
    make_exporter,
    ok,
    produce,
    reconcile,
    span_ids_in,
    spooled_ids,
    wait_until,
)


@pytest.fixture(autouse=True)
def _fast(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(holding_module, "BACKOFF_BASE", 0.05)
    monkeypatch.setattr(processor_module, "SCHEDULE_DELAY_SECONDS", 0.02)
    caplog.set_level(logging.INFO, logger=LOGGER)


def told(caplog: pytest.LogCaptureFixture, pattern: str) -> list[str]:
    """The respan_otel lines at WARNING or above matching ``pattern``."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == LOGGER and r.levelno >= logging.WARNING and re.search(pattern, r.getMessage())
    ]


# --- 429s and pacing ------------------------------------------------------------------------


def test_a_429_longer_than_the_export_deadline_loses_nothing_and_blocks_no_later_batch(
    route_spans, caplog
):
    """Observed: the batch was counted failed, then every batch of the next 30 s too,
    without a try. Now the logs are held, sent when the server allows, and later
    batches go with them."""
    backend = Backend(script=[fault(json_reply(429, detail="Rate limited", retry_after=1))])
    recorder = Recorder()
    route_spans(recorder)
    with FaultyServer(handler=backend.handle) as server:
        exporter = make_exporter(server.url, export_timeout=0.3, request_timeout=0.2)
        processor = DatasetSpanProcessor(exporter)
        route_spans(processor)
        produce(5, "first")
        assert processor.force_flush(300) is False, "the server asked for a second"
        produce(5, "second")
        assert processor.force_flush(5_000)
        processor.shutdown()
    stats = exporter.stats.snapshot()
    reconcile(hex_ids(recorder.take()), backend.stored, [], stats, caplog.records)
    assert (stats["exported"], stats["failed"], stats["rate_limited"]) == (10, 0, 1)
    assert told(caplog, r"rate limited \(429\): .*30 bulk requests/min shared by the organization")


@pytest.mark.parametrize(
    "reply",
    [
        Reply(429, {"detail": "slow down"}, headers={"Retry-After": "1000000000"}),
        Reply(
            429, {"detail": "slow down"}, headers={"Retry-After": "Fri, 31 Dec 9999 23:59:59 GMT"}
        ),
        Reply(429, b'{"detail": "slow down", "retry_after": 1e999}'),
        Reply(429, b'{"detail": "slow down", "retry_after": -5}'),
        Reply(429, b'{"detail": "slow down", "retry_after": "soon"}'),
        Reply(429, b'{"detail": "slow down", "retry_after": 1' + b"0" * 400 + b"}"),
    ],
    ids=["huge-header", "far-future-date", "1e999", "negative", "not-a-number", "huge-int"],
)
def test_a_nonsense_retry_after_waits_the_cap_never_forever_never_an_exception(
    route_spans, caplog, monkeypatch, reply
):
    """Observed: ``Retry-After: 1000000000`` (or a far-future date, or ``1e999``) stopped
    all sending for the life of the process; a huge integer raised OverflowError and 5
    of 15 logs were neither sent, spooled nor counted. Any form now waits at most the
    documented cap (shortened here), then delivery resumes."""
    monkeypatch.setattr(sender_module, "MAX_RETRY_AFTER_SECONDS", 0.5)
    backend = Backend(script=[fault(reply)])
    recorder = Recorder()
    route_spans(recorder)
    with FaultyServer(handler=backend.handle) as server:
        exporter = make_exporter(server.url, export_timeout=5, request_timeout=1)
        produce(15)
        started = time.monotonic()
        result = exporter.export(recorder_spans := recorder.take())
        elapsed = time.monotonic() - started
        exporter.shutdown()
    assert result is SpanExportResult.SUCCESS
    assert 0.3 < elapsed < 3, f"waited {elapsed:.1f} s for a capped 0.5 s"
    reconcile(hex_ids(recorder_spans), backend.stored, [], exporter.stats.snapshot(), [])
    assert len(backend.stored) == 15
    assert not [r for r in caplog.records if "internal error" in r.getMessage()]


def test_a_loopback_base_url_is_not_paced_so_a_burst_is_delivered(route_spans, caplog):
    """Observed: 19,000 calls then exit against the local server (no limit): 4,000
    failed with no line saying why (the client-side pacer needed a 60 s wait, past the
    30 s deadline). Scaled down: 40 requests' worth in one burst."""
    with LocalRespan(api_key=KEY) as server, RespanClient(KEY, server.base_url) as client:
        dataset = client.datasets.create(name="burst", is_empty=True)
        exporter = make_exporter(
            server.base_url,
            dataset_id=dataset.id,
            batch_size=10,
            export_timeout=5,
            requests_per_minute=None,  # the default, as configure() would leave it
        )
        recorder = Recorder()
        route_spans(recorder)
        produce(400)
        assert exporter.export(recorder.take()) is SpanExportResult.SUCCESS
        stored = len(list(client.datasets.logs.iter(dataset.id)))
    assert exporter.settings.requests_per_minute == 0, "no pacing against 127.0.0.1"
    assert (stored, exporter.stats["exported"], exporter.stats["failed"]) == (400, 400, 0)


def test_requests_per_minute_accepts_fractions(monkeypatch):
    monkeypatch.setenv("RESPAN_REQUESTS_PER_MINUTE", "7.5")
    exporter = make_exporter("https://api.respan.example", requests_per_minute=None)
    assert exporter.settings.requests_per_minute == 7.5
    exporter.shutdown()


def test_a_remote_base_url_is_paced_by_default():
    exporter = make_exporter("https://api.respan.example", requests_per_minute=None)
    assert exporter.settings.requests_per_minute == 30
    exporter.shutdown()


def test_waiting_logs_are_merged_into_full_requests_when_a_slot_opens(route_spans, caplog):
    """Requests are built when a slot is granted, from everything waiting: after a 429,
    the logs of three later exports leave in one request."""
    backend = Backend(script=[fault(json_reply(429, detail="Rate limited", retry_after=0.6))])
    recorder = Recorder()
    route_spans(recorder)
    with FaultyServer(handler=backend.handle) as server:
        exporter = make_exporter(server.url, export_timeout=0.2, request_timeout=0.15)
        for label in ("a", "b", "c"):
            produce(4, label)
            exporter.export(recorder.take())
        time.sleep(0.6)
        assert exporter.force_flush(5_000)
        bulk = [r for r in server.requests if r.route.endswith("/logs/bulk/")]
        exporter.shutdown()
    assert [len(span_ids_in(r.body)) for r in bulk] == [4, 12]


# --- the spool: never wedged, never duplicated ---------------------------------------------


def per_dataset(outcomes: dict[str, Reply]):
    """A bulk endpoint answering per dataset id, storing what it accepts."""
    stored: list[str] = []

    def handle(request: RecordedRequest) -> Reply:
        dataset = request.route.split("/")[3]
        reply = outcomes.get(dataset)
        if reply is not None:
            return reply
        ids = span_ids_in(request.body)
        stored.extend(ids)
        return json_reply(201, success_count=len(ids), error_count=0, errors=[])

    return handle, stored


@pytest.mark.parametrize(
    "poison",
    [json_reply(500, detail="boom"), json_reply(404, detail="Not found.")],
    ids=["persistent-5xx", "404-unknown-dataset"],
)
def test_a_dataset_the_server_keeps_refusing_never_holds_back_another(
    route_spans, caplog, tmp_path, poison
):
    """Observed: one batch the server keeps refusing (a persistent 5xx, or a 404 for one
    call site's unknown dataset) sat at the head of the spool and 0 of 50 good logs
    were stored, across restarts."""
    bad = "00000000-0000-4000-8000-000000000bad"
    handle, stored = per_dataset({bad: poison})
    recorder = Recorder()
    route_spans(recorder)
    spool = tmp_path / "spool"
    with FaultyServer(handler=handle) as server:
        for _ in range(2):  # two processes in a row sharing the spool
            exporter = make_exporter(
                server.url, spool_dir=spool, export_timeout=1, request_timeout=0.5
            )
            with span("bad", input={"x": 1}, dataset=bad):
                pass
            produce(25, "good")
            exporter.export(recorder.take())
            exporter.shutdown()
    assert len(stored) == 50, "every good log is stored"
    if poison.status == 404:
        assert exporter.stats["dead_lettered"] == 1
        assert told(caplog, r"refused: .*404.*check RESPAN_DATASET_ID or the call site's dataset")
        assert told(caplog, r"spool flush --requeue-dead")


def test_replay_sends_full_requests_not_one_per_file(route_spans, caplog, tmp_path):
    """Observed: replay sent one request per spool file (about 36 logs each)."""
    spool = tmp_path / "spool"
    backend = Backend(then=fault(Reply(drop=True)))
    recorder = Recorder()
    route_spans(recorder)
    with FaultyServer(handler=backend.handle) as server:
        exporter = make_exporter(
            server.url, spool_dir=spool, export_timeout=0.3, request_timeout=0.2
        )
        for _ in range(6):
            produce(5)
            exporter.export(recorder.take())
            time.sleep(0.06)
        exporter.shutdown()
        assert len(spooled_ids(spool)) == 30
        backend.then = ok
        before = len(server.requests)
        replayer = make_exporter(server.url, spool_dir=spool)
        assert replayer.force_flush(5_000)
        sent = server.requests[before:]
        replayer.shutdown()
    assert len(sent) == 1, f"{len(sent)} requests for 6 spool files"
    assert len(backend.stored) == 30


def test_two_exporters_in_one_process_never_send_the_same_spooled_batch(
    route_spans, caplog, tmp_path
):
    """Observed: two exporters in one process (or two processes in different PID
    namespaces) stole each other's spool claims and sent the same batch twice."""
    spool = tmp_path / "spool"
    backend = Backend(then=fault(Reply(drop=True)))
    recorder = Recorder()
    route_spans(recorder)
    with FaultyServer(handler=backend.handle) as server:
        first = make_exporter(server.url, spool_dir=spool, export_timeout=0.3, request_timeout=0.2)
        produce(6)
        first.export(recorder.take())
        first.shutdown()
        assert len(spooled_ids(spool)) == 6

        def slow_ok(request: RecordedRequest, backend: Backend) -> Reply:
            time.sleep(0.5)  # the replay is in flight while the second exporter starts
            return ok(request, backend)

        backend.then = slow_ok
        one = make_exporter(server.url, spool_dir=spool)
        flushing = threading.Thread(target=one.force_flush, args=(5_000,))
        flushing.start()
        wait_until(lambda: len(server.requests) > 0 and server.requests[-1].route.endswith("bulk/"))
        two = make_exporter(server.url, spool_dir=spool)
        two.force_flush(2_000)
        flushing.join()
        one.shutdown()
        two.shutdown()
    assert sorted(backend.stored) == sorted(set(backend.stored)), "a batch was sent twice"
    assert len(backend.stored) == 6


def test_accepted_halves_of_a_413_split_are_never_sent_again(route_spans, caplog, tmp_path):
    """Observed: after a 413 split the half already accepted was sent again (8 logs, 4
    duplicates, ``exported`` 12)."""
    spool = tmp_path / "spool"
    backend = Backend(
        script=[
            fault(json_reply(413, detail="too large")),
            ok,
            fault(json_reply(503, detail="busy", retry_after=5)),
        ]
    )
    recorder = Recorder()
    route_spans(recorder)
    with FaultyServer(handler=backend.handle) as server:
        exporter = make_exporter(server.url, spool_dir=spool, export_timeout=1, request_timeout=0.5)
        produce(8)
        spans = recorder.take()
        produced = hex_ids(spans)
        exporter.export(spans)
        exporter.shutdown()
        replayer = make_exporter(server.url, spool_dir=spool)
        assert replayer.force_flush(5_000)
        replayer.shutdown()
    assert sorted(backend.stored) == sorted(produced), "each log stored exactly once"
    assert exporter.stats["exported"] + replayer.stats["exported"] == 8


def test_bulk_errors_count_distinct_valid_indices(route_spans, caplog):
    """Observed: bulk errors were counted by the number of entries, not their indices."""

    def reply(request: RecordedRequest) -> Reply:
        errors = [
            {"index": 1, "error": "bad"},
            {"index": 1, "error": "bad again"},
            {"index": 99, "error": "no such item"},
            {"index": "2", "error": "not an index"},
            {"error": "no index at all"},
        ]
        return json_reply(201, success_count=4, error_count=1, errors=errors)

    recorder = Recorder()
    route_spans(recorder)
    with FaultyServer(handler=reply) as server:
        exporter = make_exporter(server.url)
        produce(5)
        result = exporter.export(recorder.take())
        exporter.shutdown()
    assert (exporter.stats["exported"], exporter.stats["failed"]) == (4, 1)
    assert result is SpanExportResult.FAILURE


@pytest.mark.parametrize(
    "transient",
    [json_reply(408, detail="Request Timeout"), Reply(drop=True)],
    ids=["408", "connection-reset"],
)
def test_408_and_connection_resets_are_retried(route_spans, caplog, transient):
    """Observed: 408 was neither retried nor spooled."""
    backend = Backend(script=[fault(transient)])
    recorder = Recorder()
    route_spans(recorder)
    with FaultyServer(handler=backend.handle) as server:
        exporter = make_exporter(server.url, export_timeout=5, request_timeout=1)
        produce(4)
        assert exporter.export(recorder.take()) is SpanExportResult.SUCCESS
        exporter.shutdown()
    assert (len(backend.stored), exporter.stats["failed"]) == (4, 0)


def test_export_says_failure_when_logs_were_refused(route_spans, caplog):
    """Observed: ``export()`` returned SUCCESS when the API refused logs."""
    recorder = Recorder()
    route_spans(recorder)
    with FaultyServer(handler=lambda r: json_reply(422, detail="invalid")) as server:
        exporter = make_exporter(server.url)
        produce(3)
        assert exporter.export(recorder.take()) is SpanExportResult.FAILURE
        exporter.shutdown()
    assert exporter.stats["failed"] == 3


# --- bounded flush -----------------------------------------------------------------------


def test_flush_returns_within_its_timeout_with_a_request_in_flight(route_spans, caplog):
    """Observed: ``flush(1.0)`` returned after 14 s with a request in flight (the SDK's
    ``force_flush`` ignores its timeout)."""
    backend = Backend(then=fault(Reply(201, {"errors": []}, delay=8)))
    with FaultyServer(handler=backend.handle) as server:
        exporter = make_exporter(server.url, request_timeout=15, export_timeout=30)
        processor = DatasetSpanProcessor(exporter, shutdown_timeout=0.5)
        route_spans(processor)
        produce(3)
        wait_until(lambda: len(server.requests) == 1)
        started = time.monotonic()
        flushed = processor.force_flush(1_000)
        elapsed = time.monotonic() - started
        processor.shutdown()
    assert flushed is False
    assert elapsed < 1.5, f"flush(1.0) took {elapsed:.1f} s"


def test_overlapping_flushes_leave_no_stale_deadline_behind(route_spans, caplog):
    """Observed: two overlapping ``flush()`` calls (two threads, or concurrent async
    handlers under ``flush_after``) left a stale export deadline behind, and every later
    export gave up at once."""
    backend = Backend(script=[fault(Reply(201, {"errors": []}, delay=0.5))])
    recorder = Recorder()
    route_spans(recorder)
    with FaultyServer(handler=backend.handle) as server:
        exporter = make_exporter(server.url, request_timeout=2, export_timeout=5)
        processor = DatasetSpanProcessor(exporter)
        route_spans(processor)
        produce(2, "first")
        threads = [
            threading.Thread(target=processor.force_flush, args=(timeout,))
            for timeout in (100, 3_000)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        produce(3, "later")
        assert processor.force_flush(5_000), "later spans are exported normally"
        processor.shutdown()
    assert len(backend.stored) == 3, "the later spans (the first two were stalled away)"


def test_the_name_lookup_stays_inside_the_export_deadline(route_spans, caplog):
    """Observed: the dataset-name lookup ignored the export deadline and the pacer
    (20 s and 425 list requests on a 2 s deadline)."""

    def endless_pages(request: RecordedRequest) -> Reply:
        if request.route == "/api/datasets/list/":
            page = {"id": f"id-{len(server.requests)}", "name": "someone else's"}
            return Reply(200, {"results": [page] * 100, "next": "more"}, delay=0.02)
        return json_reply(503, detail="not reached")

    recorder = Recorder()
    route_spans(recorder)
    with FaultyServer(handler=endless_pages) as server:
        exporter = make_exporter(server.url, export_timeout=2, request_timeout=1)
        with span("named", input={"q": 1}, dataset="a-name-to-look-up"):
            pass
        started = time.monotonic()
        exporter.export(recorder.take())
        elapsed = time.monotonic() - started
        lists = [r for r in server.requests if r.route == "/api/datasets/list/"]
        exporter.shutdown(timeout_millis=100)
    assert elapsed < 2.5, f"export took {elapsed:.1f} s on a 2 s deadline"
    assert len(lists) <= 10, f"{len(lists)} list requests for one name"


# --- processes and configure ----------------------------------------------------------------


def test_configure_after_shutdown_leaves_one_processor(route_spans, caplog):
    """Observed: ``configure()`` → ``shutdown()`` → ``configure()`` left the old processor
    attached (its spans counted as dropped after shutdown, with a warning)."""
    from opentelemetry.sdk.trace import TracerProvider

    import respan_otel

    with LocalRespan(api_key=KEY) as server, RespanClient(KEY, server.base_url) as client:
        dataset = client.datasets.create(name="again", is_empty=True)
        provider = TracerProvider()
        options = {"api_key": KEY, "base_url": server.base_url, "dataset_id": dataset.id}
        first = respan_otel.configure(tracer_provider=provider, **options)
        first.shutdown()
        second = respan_otel.configure(tracer_provider=provider, **options)
        tracer = provider.get_tracer("again")
        with tracer.start_as_current_span("work", attributes={"respan.input": '{"a": 1}'}):
            pass
        assert second.flush(5)
        second.shutdown()
        stored = list(client.datasets.logs.iter(dataset.id))
    assert len(stored) == 1
    assert first.stats["dropped"] == 0, "the old processor still received spans"
    assert not told(caplog, "after shutdown")


def test_a_full_queue_is_told_in_one_summary_line(route_spans, caplog):
    """One line for all the spans a full queue drops, not one per span."""
    backend = Backend(then=fault(Reply(201, {"errors": []}, delay=3)))
    with FaultyServer(handler=backend.handle) as server:
        exporter = make_exporter(server.url, request_timeout=1, export_timeout=1)
        processor = DatasetSpanProcessor(exporter, shutdown_timeout=0.3, max_queue_size=20)
        route_spans(processor)
        produce(1, "in-flight")
        wait_until(lambda: len(server.requests) == 1)
        produce(200, "flood")
        processor.shutdown()
    lines = told(caplog, r"export queue .* was full")
    assert len(lines) == 1, lines
    assert re.search(r"^respan_otel: \d+ spans dropped", lines[0])
    assert exporter.stats["dropped"] >= 180


def test_the_default_spool_is_in_the_per_user_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("RESPAN_SPOOL_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    exporter = make_exporter("https://api.respan.example", spool_dir=None)
    exporter.shutdown()
    assert exporter.spool is None, "make_exporter turns it off"
    from respan_otel import RespanDatasetExporter

    default = RespanDatasetExporter(api_key=KEY, base_url="https://api.respan.example")
    assert default.spool is not None
    # one folder per destination (API root and key) in the per-user spool
    assert default.spool.directory.parent == tmp_path / "cache" / "respan-otel" / "spool"
    assert default.spool.directory.name == destination_key("https://api.respan.example", KEY)
    assert oct(default.spool.directory.stat().st_mode & 0o777) == "0o700"
    default.shutdown()


def test_an_unwritable_default_spool_falls_back_to_the_temp_directory(unwritable_cache):
    """Serverless: the home directory is read-only; /tmp is not."""
    from respan_otel import RespanDatasetExporter

    exporter = RespanDatasetExporter(api_key=KEY, base_url="https://api.respan.example")
    assert exporter.spool is not None
    assert str(exporter.spool.directory).startswith(str(unwritable_cache))
    exporter.shutdown()


def test_the_spool_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("RESPAN_SPOOL_DIR", "off")
    from respan_otel import RespanDatasetExporter

    exporter = RespanDatasetExporter(api_key=KEY, base_url="https://api.respan.example")
    assert exporter.spool is None
    exporter.shutdown()


def test_dataset_id_is_an_opaque_id():
    for value in ("ds_abc", "_saved_logs", DATASET):
        exporter = make_exporter("https://api.respan.example", dataset_id=value)
        assert exporter.settings.dataset_id == value
        exporter.shutdown()


def test_stats_count_skipped_spans_per_reason(route_spans, tracer):
    recorder = Recorder()
    route_spans(recorder)
    with FaultyServer(handler=lambda r: json_reply(201, errors=[])) as server:
        exporter = make_exporter(server.url)
        with tracer.start_as_current_span("GET /health"):
            pass
        produce(1)
        exporter.export(recorder.take())
        exporter.shutdown()
    assert exporter.stats.skipped() == {"no-content": 1}
    assert exporter.stats["failed"] == 0


def test_spool_lines_are_strict_json(route_spans, tmp_path):
    spool = tmp_path / "spool"
    recorder = Recorder()
    route_spans(recorder)
    with FaultyServer(handler=lambda r: Reply(drop=True)) as server:
        exporter = make_exporter(
            server.url, spool_dir=spool, export_timeout=0.3, request_timeout=0.2
        )
        produce(2)
        exporter.export(recorder.take())
        exporter.shutdown()
    (path,) = spool.rglob("*.jsonl")
    header, *lines = path.read_bytes().splitlines()
    assert json.loads(header)["dataset"] == f"id:{DATASET}", "RESPAN_DATASET_ID is an id"
    assert [json.loads(line)["input"] for line in lines] == [{"i": 0}, {"i": 1}]
