"""client.datasets.logs: every method against the local server, bulk chunking on the wire."""

from __future__ import annotations

import csv
import io
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from respan_otel.client._client import RespanClient
from respan_otel.client._errors import NotFoundError, ServerError, ValidationError
from respan_otel.local import LocalRespan
from tests.faulty_server import FaultyServer, RecordedRequest, Reply, json_reply


@pytest.fixture(scope="module")
def local() -> Iterator[LocalRespan]:
    with LocalRespan(api_key="sk-local-logs") as server:
        yield server


@pytest.fixture
def client(local: LocalRespan) -> Iterator[RespanClient]:
    with RespanClient(local.api_key, local.base_url) as c:
        yield c


@pytest.fixture
def dataset_id(client: RespanClient) -> str:
    return client.datasets.create(name="logs-test").id


@pytest.fixture
def server() -> Iterator[FaultyServer]:
    with FaultyServer() as srv:
        yield srv


@pytest.fixture
def wire(server: FaultyServer) -> Iterator[RespanClient]:
    with RespanClient("sk-wire", server.url, max_retries=0) as c:
        yield c


def test_create_then_get(client: RespanClient, dataset_id: str) -> None:
    created = client.datasets.logs.create(
        dataset_id,
        {"question": "What is 2+2?", "context": ["math"]},
        {"answer": 4},
        metadata={"model": "gpt-4o", "session_id": "s1"},
        metrics={"latency": 1.5, "cost": 0.002},
        expected_output={"answer": 4},
        custom_identifier="case-1",
    )
    assert len(created.id) == 32
    assert created.message

    log = client.datasets.logs.get(dataset_id, created.id)
    assert log.id == created.id
    assert log.dataset_id == dataset_id
    assert log.input == {"question": "What is 2+2?", "context": ["math"]}
    assert log.output == {"answer": 4}
    assert log.expected_output == {"answer": 4}
    assert log.metadata["model"] == "gpt-4o"
    assert log.metrics["latency"] == 1.5
    assert log.raw["custom_identifier"] == "case-1"
    assert "question" in repr(log), "the repr shows the content"
    assert "organization_id" not in repr(log), "but not the whole raw body"


def test_create_without_output(client: RespanClient, dataset_id: str) -> None:
    created = client.datasets.logs.create(dataset_id, "only an input")
    log = client.datasets.logs.get(dataset_id, created.id)
    assert log.input == "only an input"
    assert log.output is None


def test_create_sends_the_unified_format(server: FaultyServer, wire: RespanClient) -> None:
    server.enqueue(json_reply(201, message="ok", unique_id="u1"))
    wire.datasets.logs.create("d1", {"q": 1}, None, metadata={"m": 1}, model="gpt-4o")
    request = server.requests[0]
    assert (request.method, request.route) == ("POST", "/api/datasets/d1/logs/")
    assert request.json() == {
        "input": {"q": 1},
        "output": None,
        "metadata": {"m": 1},
        "model": "gpt-4o",
    }
    assert request.header("Content-Type") == "application/json"


def test_create_accepts_the_debug_shape(server: FaultyServer, wire: RespanClient) -> None:
    server.enqueue(json_reply(201, message="debug", log_data={"unique_id": "abc"}))
    assert wire.datasets.logs.create("d1", 1).id == "abc"


def test_an_invalid_log_is_a_validation_error(client: RespanClient, dataset_id: str) -> None:
    with pytest.raises(ValidationError) as caught:
        client.datasets.logs.create(dataset_id, None)
    assert caught.value.status_code == 400
    assert caught.value.errors == {"input": ["May not be null."]}
    assert str(caught.value).endswith("(input: May not be null.)")


def test_a_bulk_whose_every_log_fails_is_a_result_not_an_error(
    client: RespanClient, dataset_id: str
) -> None:
    result = client.datasets.logs.bulk_create(dataset_id, [{"output": "no input"}] * 2)
    assert (result.success_count, result.error_count) == (0, 2)
    assert [e.index for e in result.errors] == [0, 1]
    assert "input" in str(result.errors[0].error)


def test_bulk_create_1203_logs_in_three_requests(client: RespanClient, dataset_id: str) -> None:
    logs = [{"input": {"n": i}, "output": i * 2, "metadata": {"i": i}} for i in range(1203)]
    result = client.datasets.logs.bulk_create(dataset_id, logs)
    assert (result.success_count, result.error_count, result.errors) == (1203, 0, [])
    assert result.requests == 3
    assert result.ok
    assert client.datasets.logs.list(dataset_id, page_size=1).count == 1203


def test_bulk_create_maps_partial_errors_to_the_callers_indices(
    client: RespanClient, dataset_id: str
) -> None:
    logs: list[dict[str, Any]] = [{"input": i} for i in range(1100)]
    for bad in (3, 499, 500, 1001):
        logs[bad] = {"output": "missing input"}
    result = client.datasets.logs.bulk_create(dataset_id, logs)
    assert result.success_count == 1096
    assert result.error_count == 4
    assert [e.index for e in result.errors] == [3, 499, 500, 1001]
    assert all("input" in str(e.error) for e in result.errors)
    assert not result.ok


def bulk_echo(record: RecordedRequest) -> Reply:
    """Accept every log of a bulk request."""
    size = len(record.json()["logs"])
    return json_reply(201, success_count=size, error_count=0, errors=[])


def test_bulk_chunks_and_combines_on_the_wire(server: FaultyServer, wire: RespanClient) -> None:
    server.handler = bulk_echo
    server.enqueue(
        json_reply(201, success_count=500, error_count=0, errors=[]),
        json_reply(
            201,
            success_count=497,
            error_count=3,
            errors=[
                {"index": 0, "error": "bad first"},
                {"index": 7, "error": "bad"},
                {"index": 499, "error": "bad last"},
            ],
        ),
    )
    logs = [{"input": i} for i in range(1203)]
    result = wire.datasets.logs.bulk_create("d1", logs)
    sizes = [len(r.json()["logs"]) for r in server.requests]
    assert sizes == [500, 500, 203]
    assert server.requests[1].json()["logs"][0] == {"input": 500}, "chunks keep the order"
    assert [e.index for e in result.errors] == [500, 507, 999]
    assert [e.error for e in result.errors] == ["bad first", "bad", "bad last"]
    assert (result.success_count, result.error_count, result.requests) == (1200, 3, 3)
    assert len(result.raw) == 3


def test_bulk_chunk_that_fails_whole_is_counted_and_the_run_goes_on(
    server: FaultyServer, wire: RespanClient
) -> None:
    server.handler = bulk_echo
    server.enqueue(
        json_reply(
            400,
            detail="All logs failed validation",
            success_count=0,
            error_count=2,
            errors=[{"index": 0, "error": "input: required"}, {"index": 1, "error": "x"}],
        ),
    )
    result = wire.datasets.logs.bulk_create("d1", [{"input": i} for i in range(5)], chunk_size=2)
    assert [len(r.json()["logs"]) for r in server.requests] == [2, 2, 1]
    assert (result.success_count, result.error_count) == (3, 2)
    assert [e.index for e in result.errors] == [0, 1]


def test_bulk_stops_at_a_failed_chunk_and_reports_progress(
    server: FaultyServer, wire: RespanClient
) -> None:
    server.handler = bulk_echo
    server.enqueue(
        json_reply(201, success_count=500, error_count=0, errors=[]),
        json_reply(503, detail="overloaded"),
    )
    with pytest.raises(ServerError) as caught:
        wire.datasets.logs.bulk_create("d1", [{"input": i} for i in range(1203)])
    assert len(server.requests) == 2, "creating POSTs are not retried and the run stops"
    progress = caught.value.bulk_result
    assert progress is not None
    assert (progress.success_count, progress.error_count) == (500, 0)


def test_bulk_with_nothing_sends_nothing(server: FaultyServer, wire: RespanClient) -> None:
    result = wire.datasets.logs.bulk_create("d1", [])
    assert (result.success_count, result.requests) == (0, 0)
    assert server.requests == []


def test_bulk_checks_items_and_chunk_size_first(server: FaultyServer, wire: RespanClient) -> None:
    with pytest.raises(TypeError, match=r"logs\[1\] must be a dict"):
        wire.datasets.logs.bulk_create("d1", [{"input": 1}, "oops"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="chunk_size must be from 1 to 500"):
        wire.datasets.logs.bulk_create("d1", [{"input": 1}], chunk_size=501)
    assert server.requests == []


def test_list_with_filters_paging_sorting_and_fields(client: RespanClient, dataset_id: str) -> None:
    logs = [
        {"input": f"q{i}", "output": i, "metadata": {"team": "a" if i % 2 else "b", "rank": i}}
        for i in range(12)
    ]
    client.datasets.logs.bulk_create(dataset_id, logs)
    team_a = {"metadata__team": {"operator": "eq", "value": ["a"]}}

    first = client.datasets.logs.list(
        dataset_id, filters=team_a, page_size=4, sort_by="-metadata__rank"
    )
    assert first.count == 6
    assert [log.output for log in first] == [11, 9, 7, 5]
    assert first.next is not None
    assert first.previous is None

    second = client.datasets.logs.list(
        dataset_id, filters=team_a, page=2, page_size=4, sort_by="-metadata__rank"
    )
    assert [log.output for log in second.results] == [3, 1]
    assert second.next is None

    narrow = client.datasets.logs.list(
        dataset_id, page_size=2, include_fields=["unique_id", "input"]
    )
    assert set(narrow.results[0].raw) == {"unique_id", "input"}

    ranked = client.datasets.logs.list(
        dataset_id, filters={"metadata__rank": {"operator": "gte", "value": 10}}
    )
    assert sorted(log.output for log in ranked) == [10, 11]


def test_list_sends_query_params_and_canonical_filters(
    server: FaultyServer, wire: RespanClient
) -> None:
    server.enqueue(json_reply(200, count=0, next=None, previous=None, results=[]))
    wire.datasets.logs.list(
        "d1",
        filters={"metadata.user": {"operator": "==", "value": "u1"}},
        page=3,
        page_size=10,
        sort_by="-timestamp",
        include_fields="input,output",
    )
    request = server.requests[0]
    assert (request.method, request.route) == ("POST", "/api/datasets/d1/logs/list/")
    assert request.query == {
        "page": ["3"],
        "page_size": ["10"],
        "sort_by": ["-timestamp"],
        "include_fields": ["input,output"],
    }
    assert request.json() == {"filters": {"metadata__user": {"operator": "", "value": ["u1"]}}}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"filters": {"cost": {"operator": "between", "value": [1, 2]}}}, "unknown operator"),
        ({"filters": {"cost": 3}}, "must be an object"),
        ({"filters": ["cost"]}, "must be a dict"),
        ({"page": 0}, "page must be an integer of at least 1"),
        ({"page_size": 101}, "page_size must be an integer from 1 to 100"),
        ({"sort_by": "-"}, "sort_by must be a field name"),
    ],
)
def test_list_rejects_bad_arguments_before_any_request(
    server: FaultyServer, wire: RespanClient, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        wire.datasets.logs.list("d1", **kwargs)
    if "page" not in kwargs:
        with pytest.raises(ValueError, match=message):
            wire.datasets.logs.iter("d1", **kwargs)
    assert server.requests == []


def test_iter_walks_all_pages(client: RespanClient, dataset_id: str) -> None:
    client.datasets.logs.bulk_create(dataset_id, [{"input": i} for i in range(23)])
    seen = [log.input for log in client.datasets.logs.iter(dataset_id, page_size=5)]
    assert sorted(seen) == list(range(23))


def test_iter_is_lazy(server: FaultyServer, wire: RespanClient) -> None:
    def page(n: int, more: bool) -> Reply:
        return json_reply(
            200, count=5, next="next" if more else None, previous=None,
            results=[{"unique_id": f"{n}-{i}"} for i in range(2 if more else 1)],
        )  # fmt: skip

    server.enqueue(page(1, True), page(2, True), page(3, False))
    logs = wire.datasets.logs.iter("d1", page_size=2)
    assert server.requests == []
    assert next(logs).id == "1-0"
    assert len(server.requests) == 1
    assert [log.id for log in logs] == ["1-1", "2-0", "2-1", "3-0"]
    assert [r.query["page"] for r in server.requests] == [["1"], ["2"], ["3"]]


def test_update_replace_delete(client: RespanClient, dataset_id: str) -> None:
    log_id = client.datasets.logs.create(
        dataset_id, "in", "out", metadata={"keep": True}, expected_output="gold"
    ).id

    patched = client.datasets.logs.update(dataset_id, log_id, output="better")
    assert (patched.input, patched.output) == ("in", "better")
    assert patched.metadata == {"keep": True}
    assert patched.expected_output == "gold"

    replaced = client.datasets.logs.replace(dataset_id, log_id, "new in")
    assert replaced.input == "new in"
    assert replaced.output is None
    assert replaced.expected_output is None
    assert replaced.metadata == {}
    assert client.datasets.logs.get(dataset_id, log_id).input == "new in"

    client.datasets.logs.delete(dataset_id, log_id)
    with pytest.raises(NotFoundError):
        client.datasets.logs.get(dataset_id, log_id)
    with pytest.raises(NotFoundError):
        client.datasets.logs.delete(dataset_id, log_id)


def test_update_needs_a_field(wire: RespanClient, server: FaultyServer) -> None:
    with pytest.raises(ValueError, match="at least one field"):
        wire.datasets.logs.update("d1", "l1")
    assert server.requests == []


def test_export_jsonl_and_csv(client: RespanClient, dataset_id: str) -> None:
    client.datasets.logs.bulk_create(
        dataset_id,
        [{"input": {"q": i}, "output": f"a{i}", "metadata": {"n": i}} for i in range(3)]
        + [{"input": "skip", "metadata": {"n": 99}}],
    )
    keep = {"metadata__n": {"operator": "lt", "value": [10]}}

    lines = client.datasets.logs.export(dataset_id, "jsonl", filters=keep).splitlines()
    rows = [json.loads(line) for line in lines]
    assert sorted(row["output"] for row in rows) == ["a0", "a1", "a2"]
    assert all(row["dataset_id"] == dataset_id for row in rows)

    text = client.datasets.logs.export(dataset_id, format="csv", filters=keep)
    table = list(csv.DictReader(io.StringIO(text)))
    assert len(table) == 3
    assert sorted(json.loads(row["input"])["q"] for row in table) == [0, 1, 2]

    with pytest.raises(ValueError, match="format must be"):
        client.datasets.logs.export(dataset_id, "xml")  # type: ignore[arg-type]


def test_concurrent_writers_give_exact_counts(client: RespanClient, dataset_id: str) -> None:
    singles, bulk_threads, per_bulk = 8, 4, 60
    errors: list[BaseException] = []

    def write_singles(worker: int) -> None:
        try:
            for n in range(10):
                client.datasets.logs.create(dataset_id, {"w": worker, "n": n})
        except BaseException as exc:
            errors.append(exc)

    def write_bulk(worker: int) -> None:
        try:
            logs = [{"input": {"b": worker, "n": n}} for n in range(per_bulk)]
            result = client.datasets.logs.bulk_create(dataset_id, logs, chunk_size=25)
            assert result.success_count == per_bulk
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write_singles, args=(i,)) for i in range(singles)]
    threads += [threading.Thread(target=write_bulk, args=(i,)) for i in range(bulk_threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    expected = singles * 10 + bulk_threads * per_bulk
    assert client.datasets.logs.list(dataset_id, page_size=1).count == expected
    ids = [log.id for log in client.datasets.logs.iter(dataset_id)]
    assert len(ids) == len(set(ids)) == expected


def test_log_of_an_unknown_dataset(client: RespanClient) -> None:
    with pytest.raises(NotFoundError, match="404"):
        client.datasets.logs.create("00000000-0000-4000-8000-000000000000", "x")
