"""The gateway over real sockets: stock OTLP exporter in, local Respan server out."""

from __future__ import annotations

import base64
import gzip
import json

import pytest
import requests
from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from respan_otel import RespanDatasetExporter, propagate, span, trace
from respan_otel.gateway import Gateway
from tests.gateway.conftest import TOKEN, otlp_to, wait_for


def rows_by_span(client, dataset_id):
    return {log.metadata["span_id"]: log for log in client.datasets.logs.iter(dataset_id)}


def delivered(gateway: Gateway, count: int) -> None:
    wait_for(lambda: gateway.snapshot()["delivered_rows"] >= count)


def workflow() -> None:
    @trace(kind="llm", metadata={"model": "gpt-test"})
    def answer(question: str) -> dict[str, str]:
        return {"answer": question.upper()}

    @trace
    def pipeline(question: str) -> str:
        with span("retrieve", kind="retriever", input={"query": question}) as step:
            step.set_output([{"content": "doc", "id": "d1", "score": 0.5}])
        return answer(question)["answer"]

    with propagate(session_id="s-1", customer_identifier="c-1", metadata={"env": "t"}):
        pipeline("hi")
        with pytest.raises(ValueError, match="boom"), span("fails", input={"x": 1}):
            raise ValueError("boom")


@pytest.mark.parametrize("compressed", [False, True], ids=["protobuf", "protobuf+gzip"])
def test_stock_exporter_spans_become_the_same_rows_as_in_process(
    compressed, make_gateway, local, client, dataset, route_spans, tmp_path
):
    gateway = make_gateway()
    beside = client.datasets.create(name="in-process", is_empty=True)
    in_process = RespanDatasetExporter(
        api_key=local.api_key, base_url=local.base_url, dataset_id=beside.id
    )
    route_spans(SimpleSpanProcessor(in_process))
    route_spans(SimpleSpanProcessor(otlp_to(gateway.url, gzip=compressed)))

    workflow()
    in_process.shutdown()
    expected = rows_by_span(client, beside.id)
    assert len(expected) == 4
    delivered(gateway, len(expected))

    got = rows_by_span(client, dataset.id)
    assert got.keys() == expected.keys()
    for span_id, row in expected.items():
        other = got[span_id]
        assert (other.input, other.output, other.metrics) == (row.input, row.output, row.metrics)
        assert other.metadata == row.metadata
    assert {row.metadata["session_id"] for row in got.values()} == {"s-1"}
    stats = gateway.snapshot()
    assert stats["durable_spans"] == stats["received_spans"] == 4
    assert stats["requests"]["accepted"] == 4
    wait_for(lambda: gateway.snapshot()["queued_spans"] == 0)  # forgotten once sent


def otlp_json(spans) -> dict:
    """The OTLP/JSON form of ``spans``: protobuf's JSON mapping, ids in hex."""
    document = MessageToDict(encode_spans(spans))
    for resource in document["resourceSpans"]:
        for scope in resource["scopeSpans"]:
            for item in scope["spans"]:
                for name in ("traceId", "spanId", "parentSpanId"):
                    if name in item:
                        item[name] = base64.b64decode(item[name]).hex()
    return document


@pytest.mark.parametrize("compressed", [False, True], ids=["json", "json+gzip"])
def test_otlp_json_is_accepted(compressed, make_gateway, client, dataset, exporter):
    gateway = make_gateway()
    with span("parent", input={"q": "json"}), span("child", kind="tool", input={"a": 1}):
        pass
    body = json.dumps(otlp_json(exporter.get_finished_spans())).encode()
    headers = {"content-type": "application/json", "authorization": f"Bearer {TOKEN}"}
    if compressed:
        body, headers["content-encoding"] = gzip.compress(body), "gzip"
    reply = requests.post(f"{gateway.url}/v1/traces", data=body, headers=headers, timeout=10)
    assert reply.status_code == 200
    assert reply.json() == {}
    delivered(gateway, 2)
    rows = rows_by_span(client, dataset.id)
    parent = next(row for row in rows.values() if row.metadata["span_name"] == "parent")
    child = next(row for row in rows.values() if row.metadata["span_name"] == "child")
    assert child.metadata["parent_span_id"] == parent.metadata["span_id"]
    assert child.input == {"a": 1}


def post(gateway: Gateway, body: bytes = b"", **headers: str) -> requests.Response:
    headers.setdefault("content-type", "application/x-protobuf")
    return requests.post(f"{gateway.url}/v1/traces", data=body, headers=headers, timeout=10)


def test_clients_need_a_token_of_their_own(make_gateway, local, exporter):
    gateway = make_gateway()
    with span("secret", input={"x": 1}):
        pass
    body = encode_spans(exporter.get_finished_spans()).SerializeToString()
    for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": TOKEN}):
        reply = post(gateway, body, **headers)
        assert reply.status_code == 401
        assert reply.headers["www-authenticate"] == "Bearer"
    # the Respan key is never a client credential
    assert post(gateway, body, authorization=f"Bearer {local.api_key}").status_code == 401
    stats = gateway.snapshot()
    assert stats["requests"]["unauthorized"] == 4
    assert stats["received_spans"] == 0
    assert not list(gateway.journal.directory.glob("*.otlp"))


def test_the_respan_key_cannot_be_a_client_token(local, dataset, tmp_path):
    exporter = RespanDatasetExporter(
        api_key=local.api_key, base_url=local.base_url, spool_dir=tmp_path / "spool"
    )
    with pytest.raises(ValueError, match="must not be the Respan API key"):
        Gateway(directory=tmp_path, tokens=[local.api_key], exporter=exporter)


def test_a_gateway_without_the_respan_key_refuses_to_start(tmp_path, monkeypatch):
    monkeypatch.delenv("RESPAN_API_KEY", raising=False)
    with pytest.raises(ValueError, match="RESPAN_API_KEY"):
        Gateway(directory=tmp_path, tokens=[TOKEN])


def test_bad_requests_are_answered_and_counted(make_gateway):
    gateway = make_gateway(max_body_bytes=1024)
    auth = {"authorization": f"Bearer {TOKEN}"}
    assert post(gateway, b"\xff\xff not protobuf", **auth).status_code == 400
    assert post(gateway, b"{}", **auth, **{"content-type": "text/plain"}).status_code == 415
    assert post(gateway, b"x", **auth, **{"content-encoding": "br"}).status_code == 415
    assert post(gateway, b"x" * 2048, **auth).status_code == 413
    bomb = gzip.compress(b"\0" * 100_000)
    assert post(gateway, bomb, **auth, **{"content-encoding": "gzip"}).status_code == 413
    assert post(gateway, b"not gzip", **auth, **{"content-encoding": "gzip"}).status_code == 400
    assert post(gateway, b"", **auth).status_code == 200  # an empty request is valid OTLP
    outcomes = gateway.snapshot()["requests"]
    assert outcomes["bad_request"] == 2
    assert outcomes["unsupported"] == 2
    assert outcomes["too_large"] == 2


def test_a_full_journal_answers_429_with_retry_after(make_gateway, exporter):
    # delivery waits a minute for more spans, so the journal only fills
    gateway = make_gateway(journal_max_bytes=4096, linger=60, max_spans=10**6, retry_after=7)
    auth = {"authorization": f"Bearer {TOKEN}"}
    statuses = []
    for batch in range(6):
        exporter.clear()
        with span("item", input={"payload": "x" * 500, "batch": batch}):
            pass
        body = encode_spans(exporter.get_finished_spans()).SerializeToString()
        reply = post(gateway, body, **auth)
        statuses.append(reply.status_code)
        if reply.status_code == 429:
            assert reply.headers["retry-after"] == "7"
    assert statuses[0] == 200
    assert 429 in statuses
    stats = gateway.snapshot()
    assert stats["requests"]["throttled"] == statuses.count(429)
    assert stats["durable_spans"] == statuses.count(200)
    assert stats["queued_bytes"] <= 4096


def test_health_readiness_and_counters(make_gateway, route_spans):
    gateway = make_gateway()
    assert requests.get(f"{gateway.url}/healthz", timeout=5).json() == {"status": "ok"}
    ready = requests.get(f"{gateway.url}/readyz", timeout=5)
    assert ready.status_code == 200
    assert ready.json()["ready"] is True
    route_spans(SimpleSpanProcessor(otlp_to(gateway.url)))
    with span("counted", input={"x": 1}):
        pass
    delivered(gateway, 1)
    stats = requests.get(f"{gateway.url}/stats", timeout=5).json()
    assert stats["delivered_rows"] == 1
    assert stats["upstream_requests"] == 1
    text = requests.get(f"{gateway.url}/metrics", timeout=5).text
    assert "respan_gateway_delivered_rows_total 1.0" in text
    assert 'respan_gateway_requests_total{outcome="accepted"} 1.0' in text
    assert "respan_gateway_queued_spans 0.0" in text


def test_a_full_journal_makes_the_gateway_not_ready(make_gateway, exporter):
    with span("fills", input={"payload": "y" * 700}):
        pass
    body = encode_spans(exporter.get_finished_spans()).SerializeToString()
    # room for exactly this request, and delivery waiting a minute for more
    gateway = make_gateway(journal_max_bytes=len(body), linger=60, max_spans=10**6)
    assert requests.get(f"{gateway.url}/readyz", timeout=5).status_code == 200
    assert post(gateway, body, authorization=f"Bearer {TOKEN}").status_code == 200
    ready = requests.get(f"{gateway.url}/readyz", timeout=5)
    assert ready.status_code == 503
    assert ready.json()["checks"]["journal_not_full"] is False
    assert post(gateway, body, authorization=f"Bearer {TOKEN}").status_code == 429
