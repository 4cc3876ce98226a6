"""client.datasets against the local server over HTTP, and request shapes on the wire."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest

from respan_otel.client._client import RespanClient
from respan_otel.client._errors import AuthenticationError, NotFoundError, RespanError
from respan_otel.local import LocalRespan
from tests.faulty_server import FaultyServer, Reply, json_reply


@pytest.fixture(scope="module")
def local() -> Iterator[LocalRespan]:
    with LocalRespan(api_key="sk-local-datasets") as server:
        yield server


@pytest.fixture
def client(local: LocalRespan) -> Iterator[RespanClient]:
    with RespanClient(local.api_key, local.base_url) as c:
        yield c


@pytest.fixture
def server() -> Iterator[FaultyServer]:
    with FaultyServer() as srv:
        yield srv


@pytest.fixture
def wire(server: FaultyServer) -> Iterator[RespanClient]:
    with RespanClient("sk-wire", server.url, max_retries=0) as c:
        yield c


def page(results: list[dict[str, object]], *, more: bool, count: int = 0) -> Reply:
    return json_reply(
        200, count=count, next="http://x/?page=n" if more else None, previous=None, results=results
    )


def test_create_get_update_delete(client: RespanClient) -> None:
    created = client.datasets.create(name="crud", description="first")
    assert created.id
    assert created.name == "crud"
    assert created.description == "first"
    assert created.log_count == 0
    assert created.raw["id"] == created.id

    fetched = client.datasets.get(created.id)
    assert (fetched.id, fetched.name, fetched.description) == (created.id, "crud", "first")

    updated = client.datasets.update(created.id, name="crud-2", description="second")
    assert (updated.name, updated.description) == ("crud-2", "second")
    assert client.datasets.get(created.id).name == "crud-2"

    client.datasets.delete(created.id)
    with pytest.raises(NotFoundError) as caught:
        client.datasets.get(created.id)
    assert caught.value.path == f"/api/datasets/{created.id}/"


def test_create_sends_an_empty_dataset_by_default(server: FaultyServer, wire: RespanClient) -> None:
    server.enqueue(json_reply(201, id="d1", name="n", brand_new_field=[1, 2]))
    dataset = wire.datasets.create(name="n")
    assert server.requests[0].json() == {"is_empty": True, "name": "n"}
    assert server.requests[0].route == "/api/datasets/"
    assert dataset.raw["brand_new_field"] == [1, 2], "unknown fields are kept"


def test_create_sends_every_option(server: FaultyServer, wire: RespanClient) -> None:
    server.enqueue(json_reply(201, id="d1"))
    wire.datasets.create(
        name="sampled",
        description="July",
        sampling=40,
        start_time=datetime(2025, 7, 1, tzinfo=timezone.utc),
        end_time="2025-07-31T23:59:59Z",
        initial_log_filters={"status_code": {"operator": "eq", "value": 200}},
        granularity="traces",
    )
    assert server.requests[0].json() == {
        "is_empty": False,
        "name": "sampled",
        "description": "July",
        "sampling": 40,
        "start_time": "2025-07-01T00:00:00Z",
        "end_time": "2025-07-31T23:59:59Z",
        "initial_log_filters": {"status_code": {"operator": "", "value": [200]}},
        "granularity": "traces",
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "needs name="),
        ({"name": " "}, "name must be a non-empty string"),
        ({"name": "n", "sampling": 0}, "sampling must be a percentage"),
        ({"name": "n", "sampling": 101}, "sampling must be a percentage"),
        ({"name": "n", "granularity": "spans"}, "granularity must be"),
        (
            {"name": "n", "initial_log_filters": {"cost": {"operator": "bigger", "value": 1}}},
            "unknown operator 'bigger'",
        ),
    ],
)
def test_create_rejects_bad_arguments_before_any_request(
    server: FaultyServer, wire: RespanClient, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        wire.datasets.create(**kwargs)  # type: ignore[arg-type]
    assert server.requests == []


def test_list_walks_every_page(client: RespanClient) -> None:
    ids = {client.datasets.create(name=f"paged-{i}").id for i in range(7)}
    listed = list(client.datasets.list(page_size=3))
    assert ids <= {d.id for d in listed}
    assert len(listed) == len({d.id for d in listed}), "no dataset twice across pages"


def test_list_is_lazy_and_sends_page_params(server: FaultyServer, wire: RespanClient) -> None:
    server.enqueue(
        page([{"id": "a"}, {"id": "b"}], more=True, count=3),
        page([{"id": "c"}], more=False, count=3),
    )
    datasets = wire.datasets.list(page_size=2, sort_by="-created_at")
    assert server.requests == []
    assert next(datasets).id == "a"
    assert len(server.requests) == 1
    assert [d.id for d in datasets] == ["b", "c"]
    assert [r.query["page"] for r in server.requests] == [["1"], ["2"]]
    assert server.requests[0].query["page_size"] == ["2"]
    assert server.requests[0].query["sort_by"] == ["-created_at"]
    assert {r.method for r in server.requests} == {"POST"}
    assert {r.route for r in server.requests} == {"/api/datasets/list/"}


def test_list_with_a_name_filter(client: RespanClient) -> None:
    wanted = client.datasets.create(name="filter-me")
    client.datasets.create(name="not-me")
    found = list(client.datasets.list(filters={"name": {"operator": "eq", "value": ["filter-me"]}}))
    assert [d.id for d in found] == [wanted.id]


def test_get_or_create_finds_then_reuses(client: RespanClient) -> None:
    first = client.datasets.get_or_create("goc-once", description="made here")
    again = client.datasets.get_or_create("goc-once")
    assert first.id == again.id
    assert first.description == "made here"
    named = [d for d in client.datasets.list() if d.name == "goc-once"]
    assert len(named) == 1


def test_get_or_create_from_many_threads_creates_one(client: RespanClient) -> None:
    found: list[str] = []
    lock = threading.Lock()

    def work() -> None:
        dataset = client.datasets.get_or_create("goc-threads")
        with lock:
            found.append(dataset.id)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(found)) == 1
    assert sum(d.name == "goc-threads" for d in client.datasets.list()) == 1


def test_get_or_create_scans_when_the_name_filter_is_refused(
    server: FaultyServer, wire: RespanClient
) -> None:
    server.enqueue(
        json_reply(400, detail="Invalid filters: unknown field name"),
        page([{"id": "x", "name": "other"}], more=True),
        page([{"id": "y", "name": "wanted"}], more=False),
    )
    assert wire.datasets.get_or_create("wanted").id == "y"
    assert server.requests[0].json() == {"filters": {"name": {"operator": "", "value": ["wanted"]}}}
    assert server.requests[1].json() == {}


def test_get_or_create_creates_an_empty_dataset(server: FaultyServer, wire: RespanClient) -> None:
    server.enqueue(page([], more=False), json_reply(201, id="new", name="fresh"))
    assert wire.datasets.get_or_create("fresh").id == "new"
    assert server.requests[1].json() == {"is_empty": True, "name": "fresh"}


def test_update_needs_a_field(wire: RespanClient, server: FaultyServer) -> None:
    with pytest.raises(ValueError, match="at least one field"):
        wire.datasets.update("d1")
    assert server.requests == []


def test_update_sends_tags_and_extra_fields(server: FaultyServer, wire: RespanClient) -> None:
    server.enqueue(json_reply(200, id="d1", starred=True))
    wire.datasets.update("d1", starred=True, tags=("t1", "t2"), color="blue")
    request = server.requests[0]
    assert (request.method, request.route) == ("PATCH", "/api/datasets/d1/")
    assert request.json() == {"starred": True, "tags": ["t1", "t2"], "color": "blue"}


def test_unknown_dataset_is_not_found(client: RespanClient) -> None:
    with pytest.raises(NotFoundError):
        client.datasets.get("00000000-0000-4000-8000-000000000000")


@pytest.mark.parametrize("bad", ["", "  ", None])
def test_ids_are_checked(wire: RespanClient, bad: object) -> None:
    with pytest.raises(ValueError, match="dataset_id must be a non-empty string"):
        wire.datasets.get(bad)  # type: ignore[arg-type]


def test_ids_are_quoted_into_the_path(server: FaultyServer, wire: RespanClient) -> None:
    server.enqueue(json_reply(200, id="a/b?c"))
    wire.datasets.get("a/b?c")
    assert server.requests[0].path == "/api/datasets/a%2Fb%3Fc/"


def test_wrong_key_is_an_authentication_error(local: LocalRespan) -> None:
    client = RespanClient("sk-wrong", local.base_url)
    with client, pytest.raises(AuthenticationError) as caught:
        client.datasets.create(name="nope")
    assert caught.value.status_code == 401
    assert "sk-wrong" not in str(caught.value)


def test_missing_key_fails_at_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RESPAN_API_KEY", raising=False)
    with pytest.raises(RespanError, match="RESPAN_API_KEY"):
        RespanClient(base_url="http://127.0.0.1:1")
