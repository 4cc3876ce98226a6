"""RespanDatasetExporter over real HTTP: into the local server, and against a faulty one."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from respan_otel import RespanClient, RespanDatasetExporter, propagate, span, trace
from respan_otel.local import LocalRespan
from tests.faulty_server import FaultyServer, RecordedRequest, Reply, json_reply
from tests.ports import free_port

DATASET = "6d0b2c7e-3a6a-4c09-9c7e-1f2d9e2d3f0a"


@pytest.fixture
def local() -> Iterator[LocalRespan]:
    with LocalRespan() as server:
        yield server


@pytest.fixture
def client(local: LocalRespan) -> Iterator[RespanClient]:
    with RespanClient(api_key=local.api_key, base_url=local.base_url) as respan:
        yield respan


def exporter_for(url: str, key: str = "test-key", **options: object) -> RespanDatasetExporter:
    options.setdefault("requests_per_minute", 0)
    return RespanDatasetExporter(api_key=key, base_url=url, **options)  # type: ignore[arg-type]


def bulk_ok(request: RecordedRequest) -> Reply:
    """A well-behaved bulk endpoint: every item accepted."""
    count = len(request.json()["logs"])
    return json_reply(201, success_count=count, error_count=0, errors=[])


class Collecting(SimpleSpanProcessor):
    """Keeps finished spans, so a test can hand them to ``export()`` itself."""

    def __init__(self, exporter: RespanDatasetExporter) -> None:
        super().__init__(exporter)
        self.spans: list = []

    def on_end(self, span) -> None:
        self.spans.append(span)


def traced_batch(n: int, **span_options: object) -> None:
    for i in range(n):
        with span("item", input={"i": i}, **span_options):  # type: ignore[arg-type]
            pass


def test_a_traced_call_arrives_with_every_field(local, client, route_spans):
    dataset = client.datasets.create(name="qa", is_empty=True)
    exporter = exporter_for(local.base_url, local.api_key, dataset_id=dataset.id)
    route_spans(SimpleSpanProcessor(exporter))

    @trace(kind="llm", metadata={"model": "gpt-test"})
    def answer(question: str, style: str = "short") -> dict[str, str]:
        from respan_otel import update_current_span

        update_current_span(metrics={"prompt_tokens": 12, "completion_tokens": 3, "cost": 0.02})
        return {"answer": "42", "style": style}

    with propagate(session_id="sess-1", customer_identifier="cust-1", metadata={"env": "test"}):
        answer("what is it?")
    exporter.shutdown()

    (log,) = list(client.datasets.logs.iter(dataset.id))
    assert log.input == {"question": "what is it?", "style": "short"}
    assert log.output == {"answer": "42", "style": "short"}
    assert log.metadata["model"] == "gpt-test"
    assert log.metadata["log_type"] == "llm"
    assert log.metadata["session_id"] == "sess-1"
    assert log.metadata["customer_identifier"] == "cust-1"
    assert log.metadata["env"] == "test"
    assert len(log.metadata["trace_id"]) == 32
    assert log.metrics["prompt_tokens"] == 12
    assert log.metrics["completion_tokens"] == 3
    assert log.metrics["total_tokens"] == 15
    assert log.metrics["cost"] == 0.02
    assert log.metrics["latency"] >= 0
    assert exporter.stats.snapshot()["exported"] == 1


def test_thousands_of_spans_arrive_exactly_once(local, client, route_spans):
    dataset = client.datasets.create(name="bulk", is_empty=True)
    exporter = exporter_for(local.base_url, local.api_key, dataset_id=dataset.id)
    collecting = Collecting(exporter)
    route_spans(collecting)
    traced_batch(2_345)
    assert exporter.export(collecting.spans).name == "SUCCESS"
    stats = exporter.stats.snapshot()
    assert stats["exported"] == 2_345
    assert stats["requests"] == 5, "2,345 logs fit in five requests of at most 500"
    stored = [log.input["i"] for log in client.datasets.logs.iter(dataset.id)]
    assert sorted(stored) == list(range(2_345))


def test_requests_respect_the_count_and_byte_caps(route_spans):
    with FaultyServer(handler=bulk_ok) as server:
        exporter = exporter_for(server.url, dataset_id=DATASET, max_request_bytes=20_000)
        collecting = Collecting(exporter)
        route_spans(collecting)
        traced_batch(1_200)
        exporter.export(collecting.spans)
        bodies = [r.body for r in server.requests]
    assert all(len(body) <= 20_000 for body in bodies)
    sizes = [len(json.loads(body)["logs"]) for body in bodies]
    assert sum(sizes) == 1_200
    assert max(sizes) <= 500
    assert exporter.stats.snapshot()["exported"] == 1_200


def test_partial_errors_are_counted_and_never_resent(route_spans, caplog):
    with FaultyServer() as server:
        server.enqueue(
            json_reply(
                201,
                success_count=3,
                error_count=2,
                errors=[{"index": 1, "error": "bad input"}, {"index": 4, "error": "too long"}],
            )
        )
        exporter = exporter_for(server.url, dataset_id=DATASET)
        collecting = Collecting(exporter)
        route_spans(collecting)
        traced_batch(5)
        exporter.export(collecting.spans)
        requests = len(server.requests)
    assert requests == 1
    assert exporter.stats.snapshot()["exported"] == 3
    assert exporter.stats.snapshot()["failed"] == 2
    assert "bad input" in caplog.text


def test_413_splits_the_batch_until_it_fits(route_spans):
    with FaultyServer(handler=bulk_ok) as server:
        server.enqueue(Reply(413, {"detail": "Request body too large"}))
        exporter = exporter_for(server.url, dataset_id=DATASET)
        collecting = Collecting(exporter)
        route_spans(collecting)
        traced_batch(10)
        exporter.export(collecting.spans)
        sizes = [len(r.json()["logs"]) for r in server.requests]
    assert sizes == [10, 5, 5]
    assert exporter.stats.snapshot()["exported"] == 10


def test_a_single_log_refused_as_too_large_is_counted(route_spans):
    with FaultyServer(handler=lambda r: Reply(413, {"detail": "too large"})) as server:
        exporter = exporter_for(server.url, dataset_id=DATASET)
        collecting = Collecting(exporter)
        route_spans(collecting)
        traced_batch(2)
        exporter.export(collecting.spans)
    assert exporter.stats.snapshot()["failed"] == 2
    assert len(server.requests) == 3  # the pair, then each half


def test_429_retry_after_is_honoured(route_spans):
    with FaultyServer(handler=bulk_ok) as server:
        server.enqueue(json_reply(429, detail="Rate limit exceeded", retry_after=0.4))
        exporter = exporter_for(server.url, dataset_id=DATASET)
        collecting = Collecting(exporter)
        route_spans(collecting)
        traced_batch(3)
        exporter.export(collecting.spans)
        first, second = server.requests
    assert second.received_at - first.received_at >= 0.4
    assert exporter.stats.snapshot()["exported"] == 3


def test_5xx_then_success(route_spans):
    with FaultyServer(handler=bulk_ok) as server:
        server.enqueue(Reply(503, {"detail": "busy"}), Reply(502, "bad gateway"))
        exporter = exporter_for(server.url, dataset_id=DATASET)
        exporter_backoff_fast(exporter)
        collecting = Collecting(exporter)
        route_spans(collecting)
        traced_batch(4)
        assert exporter.export(collecting.spans).name == "SUCCESS"
        assert len(server.requests) == 3
    assert exporter.stats.snapshot()["exported"] == 4


def exporter_backoff_fast(exporter: RespanDatasetExporter) -> None:
    """Retry waits of about 0.05 s, so fault tests stay fast."""
    import respan_otel._export._holding as module

    module.BACKOFF_BASE = 0.05  # type: ignore[misc]


@pytest.fixture(autouse=True)
def _restore_backoff() -> Iterator[None]:
    import respan_otel._export._holding as module

    base = module.BACKOFF_BASE
    yield
    module.BACKOFF_BASE = base  # type: ignore[misc]


def test_not_retried_on_validation_errors(route_spans, caplog):
    with FaultyServer(handler=lambda r: Reply(422, {"detail": "Validation error"})) as server:
        exporter = exporter_for(server.url, dataset_id=DATASET)
        collecting = Collecting(exporter)
        route_spans(collecting)
        traced_batch(2)
        exporter.export(collecting.spans)
        exporter.export(collecting.spans)
        assert len(server.requests) == 2
    assert exporter.stats.snapshot()["failed"] == 4
    assert caplog.text.count("Validation error") == 1, "explained once, not per request"


def test_server_down_then_up_with_the_spool_delivers_everything_in_order(tmp_path, route_spans):
    port = free_port()
    key = "spool-key"
    spool = tmp_path / "spool"
    exporter = exporter_for(f"http://127.0.0.1:{port}", key, spool_dir=spool, export_timeout=2)
    exporter_backoff_fast(exporter)
    collecting = Collecting(exporter)
    route_spans(collecting)
    for _ in range(3):
        collecting.spans.clear()
        traced_batch(4, dataset="outage-test")
        exporter.export(list(collecting.spans))
    assert exporter.stats.snapshot()["spooled"] == 12
    assert list(spool.rglob("*.jsonl"))

    with (
        LocalRespan(api_key=key, port=port) as server,
        RespanClient(api_key=key, base_url=server.base_url) as client,
    ):
        assert exporter.force_flush(10_000)
        (dataset,) = [d for d in client.datasets.list() if d.name == "outage-test"]
        stored = list(client.datasets.logs.iter(dataset.id, sort_by="timestamp"))
    assert [log.input["i"] for log in stored] == [0, 1, 2, 3] * 3
    assert not list(spool.rglob("*.jsonl"))
    assert exporter.stats.snapshot()["exported"] == 12


def test_shutdown_during_backoff_returns_within_its_timeout(tmp_path, route_spans):
    with FaultyServer(
        handler=lambda r: json_reply(429, detail="Rate limit exceeded", retry_after=20)
    ) as server:
        exporter = exporter_for(
            server.url, dataset_id=DATASET, spool_dir=tmp_path, export_timeout=60
        )
        collecting = Collecting(exporter)
        route_spans(collecting)
        traced_batch(3)
        worker = threading.Thread(target=exporter.export, args=(list(collecting.spans),))
        worker.start()
        while not server.requests:
            time.sleep(0.01)
        started = time.monotonic()
        exporter.shutdown(timeout_millis=1_000)
        worker.join(5)
        elapsed = time.monotonic() - started
    assert not worker.is_alive()
    assert elapsed < 2.0
    assert exporter.stats.snapshot()["spooled"] == 3


def test_logs_without_a_dataset_are_dropped_and_counted(route_spans, caplog):
    with FaultyServer(handler=bulk_ok) as server:
        exporter = exporter_for(server.url)
        collecting = Collecting(exporter)
        route_spans(collecting)
        traced_batch(3)
        exporter.export(collecting.spans)
        assert server.requests == []
    assert exporter.stats.snapshot()["dropped"] == 3
    assert caplog.text.count("names no dataset") == 1


def test_a_dataset_name_is_resolved_once_and_created_empty(local, client, route_spans):
    exporter = exporter_for(local.base_url, local.api_key)
    collecting = Collecting(exporter)
    route_spans(collecting)
    traced_batch(3, dataset="support-eval")
    exporter.export(collecting.spans)
    collecting.spans.clear()
    traced_batch(2, dataset="support-eval")
    exporter.export(collecting.spans)
    matches = [d for d in client.datasets.list() if d.name == "support-eval"]
    assert len(matches) == 1
    assert len(list(client.datasets.logs.iter(matches[0].id))) == 5


def test_before_send_changes_or_drops_logs(route_spans):
    def hook(body):
        if body["input"]["i"] == 0:
            return None
        body["metadata"]["masked"] = True
        return body

    with FaultyServer(handler=bulk_ok) as server:
        exporter = exporter_for(server.url, dataset_id=DATASET, before_send=hook)
        collecting = Collecting(exporter)
        route_spans(collecting)
        traced_batch(3)
        exporter.export(collecting.spans)
        (request,) = server.requests
    logs = request.json()["logs"]
    assert [log["input"]["i"] for log in logs] == [1, 2]
    assert all(log["metadata"]["masked"] for log in logs)
    assert exporter.stats.snapshot()["dropped"] == 1


def test_a_raising_before_send_drops_the_log_and_never_raises(route_spans):
    def hook(body):
        raise RuntimeError("hook bug")

    with FaultyServer(handler=bulk_ok) as server:
        exporter = exporter_for(server.url, dataset_id=DATASET, before_send=hook)
        collecting = Collecting(exporter)
        route_spans(collecting)
        traced_batch(2)
        assert exporter.export(collecting.spans).name == "SUCCESS"
        assert server.requests == []
    assert exporter.stats.snapshot()["dropped"] == 2


def test_only_root_spans(route_spans):
    with FaultyServer(handler=bulk_ok) as server:
        exporter = exporter_for(server.url, dataset_id=DATASET, only_root_spans=True)
        collecting = Collecting(exporter)
        route_spans(collecting)
        with span("root"), span("child"):
            pass
        exporter.export(collecting.spans)
        (request,) = server.requests
    assert [log["metadata"]["span_name"] for log in request.json()["logs"]] == ["root"]


def test_without_an_api_key_nothing_is_sent(monkeypatch, caplog, route_spans):
    monkeypatch.delenv("RESPAN_API_KEY", raising=False)
    exporter = RespanDatasetExporter(dataset_id=DATASET)
    assert "no API key (pass api_key= or set RESPAN_API_KEY)" in caplog.text
    collecting = Collecting(exporter)
    route_spans(collecting)
    traced_batch(2)
    assert exporter.export(collecting.spans).name == "SUCCESS"
    assert exporter.stats.snapshot()["dropped"] == 2


def test_the_key_never_reaches_the_log(route_spans, caplog):
    secret = "sk-very-secret-key-123"
    caplog.set_level(logging.DEBUG)
    replies = [Reply(401, {"detail": "Your API key is invalid"}), Reply(503, "down")]
    with FaultyServer(handler=lambda r: replies[len(r.path) % 2]) as server:
        exporter = exporter_for(server.url, secret, dataset_id=DATASET, export_timeout=0.5)
        collecting = Collecting(exporter)
        route_spans(collecting)
        traced_batch(2)
        exporter.export(collecting.spans)
        exporter.shutdown()
    everything = caplog.text + repr(exporter) + repr(exporter.settings)
    assert secret not in everything
    assert "Authorization" not in caplog.text


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"batch_size": 0}, "batch_size=0 must be between 1 and 500"),
        ({"batch_size": 501}, "batch_size=501 must be between 1 and 500"),
        ({"requests_per_minute": -1}, "requests_per_minute=-1 must be >= 0"),
        ({"export_timeout": 0}, "export_timeout=0 must be a finite number greater than 0"),
        ({"dataset_id": ""}, "dataset_id must be a non-empty str"),
        ({"base_url": "ftp://example.com"}, "base_url"),
        ({"base_url": "http://example.com"}, "http"),
        ({"before_send": "nope"}, "before_send must be callable"),
    ],
)
def test_bad_settings_fail_at_construction_naming_the_setting(options, message):
    with pytest.raises((TypeError, ValueError), match=message):
        RespanDatasetExporter(api_key="k", **options)


def test_bad_environment_value_names_the_variable(monkeypatch):
    monkeypatch.setenv("RESPAN_BATCH_SIZE", "lots")
    with pytest.raises(ValueError, match="RESPAN_BATCH_SIZE='lots' is not an integer"):
        RespanDatasetExporter(api_key="k")


def test_export_never_raises_even_when_mapping_breaks(route_spans):
    exporter = exporter_for("http://127.0.0.1:9", dataset_id=DATASET)

    class Broken:
        attributes = property(lambda self: 1 / 0)

    assert exporter.export([Broken()]).name in ("SUCCESS", "FAILURE")  # type: ignore[list-item]
    assert exporter.stats.snapshot()["dropped"] == 1


def test_lone_surrogates_are_replaced_not_fatal(route_spans):
    with FaultyServer(handler=bulk_ok) as server:
        exporter = exporter_for(server.url, dataset_id=DATASET)
        collecting = Collecting(exporter)
        route_spans(collecting)
        with span("odd text", input={"text": "bad \udc80 surrogate", "emoji": "\U0001f600"}):
            pass
        assert exporter.export(collecting.spans).name == "SUCCESS"
        (request,) = server.requests
    (log,) = request.json()["logs"]
    assert log["input"]["text"] == "bad \ufffd surrogate"
    assert log["input"]["emoji"] == "\U0001f600"
