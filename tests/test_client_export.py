"""RespanClient's export: one request to the local server, pages against anything else."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

import pytest
import requests

from respan_otel import RespanClient
from respan_otel.local import LocalRespan
from tests.faulty_server import FaultyServer, RecordedRequest, Reply

KEY = "sk-export-test"
LOGS = 250


@pytest.fixture(scope="module")
def server() -> Iterator[LocalRespan]:
    with LocalRespan(api_key=KEY) as local:
        yield local


@pytest.fixture(scope="module")
def dataset_id(server: LocalRespan) -> str:
    with RespanClient(api_key=KEY, base_url=server.base_url) as client:
        dataset = client.datasets.create(name="export me")
        client.datasets.logs.bulk_create(
            dataset.id,
            [
                {"input": {"n": i}, "output": f"out {i}", "metadata": {"model": f"m{i % 2}"}}
                for i in range(LOGS)
            ],
        )
        return dataset.id


def forwarding_to(server: LocalRespan) -> FaultyServer:
    """A proxy in front of the local server that answers as a different server would
    (no ``respan-otel-local`` Server header), as the real API does."""

    def forward(request: RecordedRequest) -> Reply:
        answer = requests.request(
            request.method,
            server.base_url + request.path,
            data=request.body,
            headers={k: v for k, v in request.headers.items() if k.lower() != "host"},
            timeout=30,
        )
        kind = answer.headers.get("Content-Type", "application/json")
        return Reply(answer.status_code, answer.content, headers={"Content-Type": kind})

    return FaultyServer(handler=forward)


def test_the_local_server_exports_in_one_request(server: LocalRespan, dataset_id: str):
    with RespanClient(api_key=KEY, base_url=server.base_url) as client:
        export = client.datasets.logs._export_rows(dataset_id)
        assert export.server_side
        assert export.total == LOGS
        exported = list(export.rows)
        paged = [dict(log.raw) for log in client.datasets.logs.iter(dataset_id)]
    assert exported == paged, "the same rows, in the same order, as the pages give"


def test_another_server_is_read_page_by_page_and_never_asked_to_export(
    server: LocalRespan, dataset_id: str
):
    with forwarding_to(server) as proxy, RespanClient(api_key=KEY, base_url=proxy.url) as client:
        export = client.datasets.logs._export_rows(dataset_id, sort_by="-timestamp")
        assert not export.server_side
        assert export.total == LOGS
        rows = list(export.rows)
        sent = [r.json() for r in proxy.requests if r.body]
    assert len(rows) == LOGS
    assert len({row["unique_id"] for row in rows}) == LOGS
    assert not any(body.get("is_exporting") for body in sent), "Respan would e-mail a file"
    assert len(proxy.requests) == 3, "pages of 100"


def test_export_text_matches_either_way(server: LocalRespan, dataset_id: str):
    keep = {"metadata__model": {"operator": "eq", "value": ["m1"]}}
    with RespanClient(api_key=KEY, base_url=server.base_url) as client:
        local_text = client.datasets.logs.export(dataset_id, "jsonl", filters=keep)
        local_csv = client.datasets.logs.export(dataset_id, "csv", filters=keep)
    with forwarding_to(server) as proxy, RespanClient(api_key=KEY, base_url=proxy.url) as client:
        paged_text = client.datasets.logs.export(dataset_id, "jsonl", filters=keep)
    assert local_text == paged_text
    rows = [json.loads(line) for line in local_text.splitlines()]
    assert len(rows) == LOGS // 2
    assert {r["metadata"]["model"] for r in rows} == {"m1"}
    table = list(csv.DictReader(io.StringIO(local_csv)))
    assert [json.loads(r["input"]) for r in table] == [r["input"] for r in rows]
