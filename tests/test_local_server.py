"""The local Respan server over real HTTP: endpoints, shapes, errors, limits, lifecycle."""

from __future__ import annotations

import csv
import http.client
import io
import json
import logging
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from respan_otel.local import LocalRespan
from respan_otel.local._api import Api

KEY = "test-key-123"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
def server() -> Iterator[LocalRespan]:
    with LocalRespan(api_key=KEY) as srv:
        yield srv


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.headers.update(AUTH)
        yield session


@pytest.fixture
def api(server: LocalRespan) -> str:
    return server.base_url + "/api"


def make_dataset(session: requests.Session, api: str, name: str = "ds") -> str:
    r = session.post(f"{api}/datasets/", json={"name": name, "is_empty": True})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def add_logs(session: requests.Session, api: str, ds: str, logs: list[dict[str, object]]) -> None:
    r = session.post(f"{api}/datasets/{ds}/logs/bulk/", json={"logs": logs})
    assert r.status_code == 201, r.text
    assert r.json()["error_count"] == 0


# ---------------------------------------------------------------- datasets


def test_dataset_crud(session: requests.Session, api: str) -> None:
    r = session.post(
        f"{api}/datasets/", json={"name": "Support", "description": "d", "is_empty": True}
    )
    assert r.status_code == 201
    ds = r.json()
    assert uuid.UUID(ds["id"])
    assert ds["name"] == "Support"
    assert ds["status"] == "ready"
    assert ds["log_count"] == 0
    for key in ("type", "initial_log_filters", "created_at", "updated_at", "granularity"):
        assert key in ds
    r = session.get(f"{api}/datasets/{ds['id']}/")
    assert r.status_code == 200
    assert r.json()["name"] == "Support"
    r = session.patch(
        f"{api}/datasets/{ds['id']}/", json={"name": "Renamed", "starred": True, "tags": ["t1"]}
    )
    assert r.status_code == 200
    assert r.json()["name"] == "Renamed"
    assert r.json()["starred"] is True
    assert r.json()["tags"] == [{"id": "t1", "name": "t1", "color": None}]
    assert r.json()["description"] == "d"
    r = session.delete(f"{api}/datasets/{ds['id']}/")
    assert r.status_code == 204
    assert r.content == b""
    assert session.get(f"{api}/datasets/{ds['id']}/").status_code == 404
    assert session.delete(f"{api}/datasets/{ds['id']}/").status_code == 404


def test_dataset_validation(session: requests.Session, api: str) -> None:
    r = session.post(f"{api}/datasets/", json={"description": "no name"})
    assert r.status_code == 400
    assert "name" in r.json()["errors"]
    r = session.post(f"{api}/datasets/", json={"name": "x", "sampling": 0})
    assert r.status_code == 400
    assert "sampling" in r.json()["errors"]
    r = session.post(
        f"{api}/datasets/",
        json={"name": "x", "initial_log_filters": {"cost": {"operator": "bogus", "value": 1}}},
    )
    assert r.status_code == 400
    assert "bogus" in r.json()["errors"]["initial_log_filters"][0]
    r = session.post(
        f"{api}/datasets/",
        json={
            "name": "x",
            "start_time": "2025-07-31T00:00:00Z",
            "end_time": "2025-07-01T00:00:00Z",
        },
    )
    assert r.status_code == 400
    assert "end_time" in r.json()["errors"]
    r = session.patch(f"{api}/datasets/{make_dataset(session, api)}/", json={"name": ""})
    assert r.status_code == 400


def test_dataset_delete_removes_its_logs(session: requests.Session, api: str) -> None:
    ds = make_dataset(session, api)
    uid = session.post(f"{api}/datasets/{ds}/logs/", json={"input": 1}).json()["unique_id"]
    assert session.delete(f"{api}/datasets/{ds}/").status_code == 204
    assert session.get(f"{api}/datasets/{ds}/logs/{uid}/").status_code == 404
    assert session.post(f"{api}/datasets/{ds}/logs/list/", json={}).status_code == 404


def test_dataset_duplicate_copies_logs(session: requests.Session, api: str) -> None:
    ds = make_dataset(session, api, "orig")
    add_logs(session, api, ds, [{"input": i} for i in range(3)])
    r = session.post(f"{api}/datasets/", json={"source_dataset_id": ds})
    assert r.status_code == 201
    copy = r.json()
    assert copy["name"] == "orig (copy)"
    assert copy["log_count"] == 3
    page = session.post(f"{api}/datasets/{copy['id']}/logs/list/", json={}).json()
    assert sorted(log["input"] for log in page["results"]) == [0, 1, 2]
    assert all(log["dataset_id"] == copy["id"] for log in page["results"])
    r = session.post(f"{api}/datasets/", json={"source_dataset_id": str(uuid.uuid4())})
    assert r.status_code == 404


def test_dataset_list_get_and_post_paginated(session: requests.Session, api: str) -> None:
    ids = [make_dataset(session, api, f"ds-{i}") for i in range(5)]
    r = session.get(f"{api}/datasets/", params={"page_size": 2})
    assert r.status_code == 200
    body = r.json()
    assert body["count"] == 5
    assert len(body["results"]) == 2
    assert body["previous"] is None
    assert body["next"].startswith("http://")
    assert body["results"][0]["id"] == ids[-1]
    assert body["results"][0]["log_count"] == 0
    seen = []
    url: str | None = f"{api}/datasets/list/?page_size=2"
    while url:
        page = session.post(url, json={}).json()
        seen += [d["id"] for d in page["results"]]
        url = page["next"]
    assert sorted(seen) == sorted(ids)
    r = session.post(
        f"{api}/datasets/list/",
        json={"filters": {"name": {"operator": "endswith", "value": "-3"}}},
    )
    assert [d["name"] for d in r.json()["results"]] == ["ds-3"]


# ---------------------------------------------------------------- dataset logs


def test_create_log_and_read_shape(session: requests.Session, api: str) -> None:
    ds = make_dataset(session, api)
    body = {
        "input": {"question": "hi", "list": [1, 2]},
        "output": "hello",
        "expected_output": {"answer": "hello"},
        "metadata": {"model": "gpt-4", "log_type": "chat", "custom_identifier": "c1", "x": 1},
        "metrics": {"prompt_tokens": 3, "completion_tokens": 4, "cost": 0.01, "latency": 0.5},
        "customer_identifier": "cust-1",
        "my_extra": {"kept": True},
    }
    r = session.post(f"{api}/datasets/{ds}/logs/", json=body)
    assert r.status_code == 201
    assert r.json()["message"] == "Dataset log created successfully"
    uid = r.json()["unique_id"]
    assert uuid.UUID(uid).hex == uid
    log = session.get(f"{api}/datasets/{ds}/logs/{uid}/").json()
    assert log["id"] == log["unique_id"] == uid
    assert log["dataset_id"] == ds
    assert log["input"] == body["input"]
    assert log["output"] == "hello"
    assert log["expected_output"] == {"answer": "hello"}
    assert log["metadata"] == body["metadata"]
    assert log["metrics"] == body["metrics"]
    assert log["model"] == "gpt-4"
    assert log["log_type"] == "chat"
    assert log["custom_identifier"] == "c1"
    assert log["prompt_tokens"] == 3
    assert log["completion_tokens"] == 4
    assert log["total_request_tokens"] == 7
    assert log["cost"] == 0.01
    assert log["latency"] == 0.5
    assert log["status_code"] == 200
    assert log["status"] == "success"
    assert log["customer_identifier"] == "cust-1"
    assert log["my_extra"] == {"kept": True}
    assert log["timestamp"].endswith("Z")
    assert log["start_time"] == log["timestamp"]
    for key in ("error_message", "scores", "organization_id", "environment"):
        assert key in log


def test_log_top_level_fields_win_and_timestamps_normalised(
    session: requests.Session, api: str
) -> None:
    ds = make_dataset(session, api)
    r = session.post(
        f"{api}/datasets/{ds}/logs/",
        json={
            "input": "q",
            "model": "top",
            "metadata": {"model": "meta"},
            "timestamp": "2025-07-01T12:00:00+02:00",
            "status_code": 500,
            "error_message": "boom",
        },
    )
    log = session.get(f"{api}/datasets/{ds}/logs/{r.json()['unique_id']}/").json()
    assert log["model"] == "top"
    assert log["timestamp"] == "2025-07-01T10:00:00.000000Z"
    assert log["status_code"] == 500
    assert log["status"] == "error"
    assert log["error_message"] == "boom"


def test_output_may_be_omitted_input_required(session: requests.Session, api: str) -> None:
    ds = make_dataset(session, api)
    assert session.post(f"{api}/datasets/{ds}/logs/", json={"input": "only"}).status_code == 201
    r = session.post(f"{api}/datasets/{ds}/logs/", json={"output": "x"})
    assert r.status_code == 400
    assert r.json()["errors"]["input"] == ["This field is required."]
    assert "detail" in r.json()
    r = session.post(f"{api}/datasets/{ds}/logs/", json={"input": None})
    assert r.status_code == 400


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"metadata": ["a"]}, "metadata"),
        ({"metadata": "text"}, "metadata"),
        ({"metrics": {"cost": "cheap"}}, "metrics"),
        ({"metrics": {"cost": True}}, "metrics"),
        ({"metrics": [1]}, "metrics"),
        ({"cost": "1"}, "cost"),
        ({"model": 4}, "model"),
        ({"status_code": "200"}, "status_code"),
        ({"timestamp": "yesterday"}, "timestamp"),
    ],
)
def test_log_type_errors(
    session: requests.Session, api: str, extra: dict[str, object], field: str
) -> None:
    ds = make_dataset(session, api)
    r = session.post(f"{api}/datasets/{ds}/logs/", json={"input": "x", **extra})
    assert r.status_code == 400
    assert field in r.json()["errors"]


def test_log_patch_put_delete(session: requests.Session, api: str) -> None:
    ds = make_dataset(session, api)
    uid = session.post(
        f"{api}/datasets/{ds}/logs/",
        json={"input": "a", "output": "b", "metadata": {"model": "m1"}, "expected_output": "e"},
    ).json()["unique_id"]
    created = session.get(f"{api}/datasets/{ds}/logs/{uid}/").json()
    r = session.patch(
        f"{api}/datasets/{ds}/logs/{uid}/", json={"output": "B", "error_message": "x"}
    )
    assert r.status_code == 200
    assert r.json()["output"] == "B"
    assert r.json()["input"] == "a"
    assert r.json()["model"] == "m1"
    assert r.json()["error_message"] == "x"
    assert r.json()["timestamp"] == created["timestamp"]
    assert (
        session.patch(f"{api}/datasets/{ds}/logs/{uid}/", json={"input": None}).status_code == 400
    )
    assert (
        session.patch(f"{api}/datasets/{ds}/logs/{uid}/", json={"metadata": 1}).status_code == 400
    )
    r = session.put(f"{api}/datasets/{ds}/logs/{uid}/", json={"input": "new"})
    assert r.status_code == 200
    assert r.json()["input"] == "new"
    assert r.json()["output"] is None
    assert r.json()["expected_output"] is None
    assert r.json()["model"] is None
    assert r.json()["metadata"] is None
    assert session.get(f"{api}/datasets/{ds}/logs/{uid}/").json()["input"] == "new"
    dashed = str(uuid.UUID(uid))
    assert session.get(f"{api}/datasets/{ds}/logs/{dashed}/").status_code == 200
    r = session.delete(f"{api}/datasets/{ds}/logs/{uid}/")
    assert r.status_code == 204
    assert session.get(f"{api}/datasets/{ds}/logs/{uid}/").status_code == 404
    assert session.delete(f"{api}/datasets/{ds}/logs/{uid}/").status_code == 404
    assert session.patch(f"{api}/datasets/{ds}/logs/{uid}/", json={"output": 1}).status_code == 404


def test_log_of_another_dataset_is_not_found(session: requests.Session, api: str) -> None:
    a, b = make_dataset(session, api, "a"), make_dataset(session, api, "b")
    uid = session.post(f"{api}/datasets/{a}/logs/", json={"input": 1}).json()["unique_id"]
    assert session.get(f"{api}/datasets/{b}/logs/{uid}/").status_code == 404


def test_unknown_dataset_is_404_on_every_log_route(session: requests.Session, api: str) -> None:
    ds = str(uuid.uuid4())
    uid = uuid.uuid4().hex
    calls = [
        ("POST", f"{api}/datasets/{ds}/logs/", {"input": 1}),
        ("POST", f"{api}/datasets/{ds}/logs/bulk/", {"logs": [{"input": 1}]}),
        ("POST", f"{api}/datasets/{ds}/logs/list/", {}),
        ("GET", f"{api}/datasets/{ds}/logs/list/", None),
        ("GET", f"{api}/datasets/{ds}/logs/{uid}/", None),
        ("PATCH", f"{api}/datasets/{ds}/logs/{uid}/", {"output": 1}),
        ("DELETE", f"{api}/datasets/{ds}/logs/{uid}/", None),
        ("GET", f"{api}/datasets/not-a-uuid/", None),
    ]
    for method, url, body in calls:
        r = session.request(method, url, json=body)
        assert r.status_code == 404, (method, url)
        assert "detail" in r.json()


def test_saved_logs_virtual_dataset(session: requests.Session, api: str) -> None:
    r = session.post(f"{api}/datasets/_saved_logs/logs/", json={"input": "saved"})
    assert r.status_code == 201
    page = session.post(f"{api}/datasets/_saved_logs/logs/list/", json={}).json()
    assert [log["input"] for log in page["results"]] == ["saved"]


def test_bulk_partial_success(session: requests.Session, api: str) -> None:
    ds = make_dataset(session, api)
    logs: list[object] = [
        {"input": "ok-0"},
        {"output": "no input"},
        {"input": "ok-2", "metrics": {"cost": "x"}},
        "not an object",
        {"input": "ok-4", "output": {"a": 1}},
    ]
    r = session.post(f"{api}/datasets/{ds}/logs/bulk/", json={"logs": logs})
    assert r.status_code == 201
    body = r.json()
    assert body["success_count"] == 2
    assert body["error_count"] == 3
    assert [e["index"] for e in body["errors"]] == [1, 2, 3]
    assert "input" in body["errors"][0]["error"]
    assert "cost" in body["errors"][1]["error"]
    assert all(isinstance(e["error"], str) for e in body["errors"])
    page = session.post(f"{api}/datasets/{ds}/logs/list/", json={}).json()
    assert sorted(log["input"] for log in page["results"]) == ["ok-0", "ok-4"]
    assert session.get(f"{api}/datasets/{ds}/").json()["log_count"] == 2


def test_bulk_all_failed_is_400(session: requests.Session, api: str) -> None:
    ds = make_dataset(session, api)
    r = session.post(f"{api}/datasets/{ds}/logs/bulk/", json={"logs": [{"output": 1}, {}]})
    assert r.status_code == 400
    body = r.json()
    assert body["success_count"] == 0
    assert body["error_count"] == 2
    assert [e["index"] for e in body["errors"]] == [0, 1]
    assert "detail" in body


def test_bulk_limits(session: requests.Session, api: str) -> None:
    ds = make_dataset(session, api)
    r = session.post(
        f"{api}/datasets/{ds}/logs/bulk/", json={"logs": [{"input": i} for i in range(501)]}
    )
    assert r.status_code == 422
    assert "500" in r.json()["errors"]["logs"][0]
    assert r.json()["detail"] == "Validation error"
    for body in ({"logs": []}, {}, {"logs": {"input": 1}}):
        r = session.post(f"{api}/datasets/{ds}/logs/bulk/", json=body)
        assert r.status_code == 422
        assert "logs" in r.json()["errors"]
    r = session.post(
        f"{api}/datasets/{ds}/logs/bulk/", json={"logs": [{"input": i} for i in range(500)]}
    )
    assert r.status_code == 201
    assert r.json()["success_count"] == 500
    assert session.get(f"{api}/datasets/{ds}/").json()["log_count"] == 500


def test_pagination_walks_everything_once(session: requests.Session, api: str) -> None:
    ds = make_dataset(session, api)
    add_logs(session, api, ds, [{"input": i} for i in range(23)])
    first = session.post(f"{api}/datasets/{ds}/logs/list/?page_size=5", json={}).json()
    assert first["count"] == first["total_count"] == 23
    assert first["previous"] is None
    assert first["next"] == f"{api}/datasets/{ds}/logs/list/?page=2&page_size=5"
    seen: list[int] = []
    url: str | None = f"{api}/datasets/{ds}/logs/list/?page_size=5"
    pages = []
    while url:
        page = session.post(url, json={}).json()
        pages.append(page)
        seen += [log["input"] for log in page["results"]]
        url = page["next"]
    assert len(pages) == 5
    assert sorted(seen) == list(range(23))
    assert len(pages[-1]["results"]) == 3
    assert pages[1]["previous"] == f"{api}/datasets/{ds}/logs/list/?page_size=5"
    assert pages[2]["previous"] == f"{api}/datasets/{ds}/logs/list/?page=2&page_size=5"
    # GET with query parameters works the same way
    got: list[int] = []
    url = f"{api}/datasets/{ds}/logs/?page_size=10"
    while url:
        page = session.get(url).json()
        got += [log["input"] for log in page["results"]]
        url = page["next"]
    assert sorted(got) == list(range(23))


def test_pagination_params_in_body_and_limits(session: requests.Session, api: str) -> None:
    ds = make_dataset(session, api)
    add_logs(session, api, ds, [{"input": i} for i in range(30)])
    page = session.post(f"{api}/datasets/{ds}/logs/list/", json={"page": 2, "page_size": 10}).json()
    assert len(page["results"]) == 10
    assert page["next"].endswith("?page=3&page_size=10")
    following = session.post(page["next"], json={"page": 2, "page_size": 10}).json()
    assert following["next"] is None
    assert {log["input"] for log in following["results"]}.isdisjoint(
        log["input"] for log in page["results"]
    )
    default = session.post(f"{api}/datasets/{ds}/logs/list/", json={}).json()
    assert len(default["results"]) == 25
    capped = session.get(f"{api}/datasets/{ds}/logs/list/?page_size=1000").json()
    assert len(capped["results"]) == 30
    assert capped["next"] is None
    for bad in ("0", "abc"):
        r = session.get(f"{api}/datasets/{ds}/logs/list/?page={bad}")
        assert r.status_code == 404
        assert r.json() == {"detail": "Invalid page."}
    # past the end: an empty page, which is where the official client stops walking
    for beyond in ("99", str(10**30)):
        past = session.get(f"{api}/datasets/{ds}/logs/list/?page={beyond}").json()
        assert (past["count"], past["results"], past["next"]) == (30, [], None)


def test_sorting(session: requests.Session, api: str) -> None:
    ds = make_dataset(session, api)
    add_logs(
        session,
        api,
        ds,
        [
            {"input": "b", "metrics": {"latency": 2.0, "cost": 0.3}},
            {"input": "a", "metrics": {"latency": 1.0, "cost": 0.1}},
            {"input": "c", "metrics": {"latency": 3.0, "cost": 0.2}},
        ],
    )

    def order(sort_by: str) -> list[object]:
        page = session.post(f"{api}/datasets/{ds}/logs/list/?sort_by={sort_by}", json={}).json()
        return [log["input"] for log in page["results"]]

    assert order("latency") == ["a", "b", "c"]
    assert order("-latency") == ["c", "b", "a"]
    assert order("cost") == ["a", "c", "b"]
    assert order("-metrics__cost") == ["b", "c", "a"]
    page = session.post(f"{api}/datasets/{ds}/logs/list/", json={}).json()
    ids = [log["unique_id"] for log in page["results"]]
    assert ids == sorted(ids)
    by_body = session.post(f"{api}/datasets/{ds}/logs/list/", json={"sort_by": "-latency"}).json()
    assert [log["input"] for log in by_body["results"]] == ["c", "b", "a"]
    assert session.get(f"{api}/datasets/{ds}/logs/list/?sort_by=la%20tency").status_code == 400


def test_sort_by_timestamp(session: requests.Session, api: str) -> None:
    ds = make_dataset(session, api)
    add_logs(
        session,
        api,
        ds,
        [
            {"input": "mid", "timestamp": "2025-01-02T00:00:00Z"},
            {"input": "old", "timestamp": "2025-01-01T00:00:00Z"},
            {"input": "new", "timestamp": "2025-01-03T00:00:00+00:00"},
        ],
    )
    page = session.get(f"{api}/datasets/{ds}/logs/list/?sort_by=-timestamp").json()
    assert [log["input"] for log in page["results"]] == ["new", "mid", "old"]


def test_include_fields(session: requests.Session, api: str) -> None:
    ds = make_dataset(session, api)
    add_logs(session, api, ds, [{"input": "x", "output": "y", "metadata": {"model": "m"}}])
    page = session.post(
        f"{api}/datasets/{ds}/logs/list/?include_fields=unique_id,input,%20model", json={}
    ).json()
    assert set(page["results"][0]) == {"unique_id", "input", "model"}
    page = session.post(f"{api}/datasets/{ds}/logs/list/", json={"include_fields": "output"}).json()
    assert page["results"] == [{"output": "y"}]


def test_export_jsonl_and_csv(session: requests.Session, api: str) -> None:
    ds = make_dataset(session, api)
    add_logs(
        session,
        api,
        ds,
        [{"input": {"q": i}, "output": f"out,{i}", "metadata": {"model": "m"}} for i in range(3)]
        + [{"input": "other", "metadata": {"model": "z"}}],
    )
    filters = {"model": {"operator": "eq", "value": "m"}}
    r = session.post(
        f"{api}/datasets/{ds}/logs/list/",
        json={"filters": filters, "is_exporting": True, "export_format": ".jsonl", "name": "out"},
        headers={"Accept": "application/x-ndjson"},
    )
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/x-ndjson")
    assert 'filename="out.jsonl"' in r.headers["Content-Disposition"]
    rows = [json.loads(line) for line in r.text.splitlines()]
    assert sorted(row["input"]["q"] for row in rows) == [0, 1, 2]
    r = session.post(
        f"{api}/datasets/{ds}/logs/list/?download=true",
        json={"filters": filters, "is_exporting": True},
    )
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(r.text)))
    assert len(table) == 3
    assert {row["output"] for row in table} == {"out,0", "out,1", "out,2"}
    assert json.loads(table[0]["input"]) in ({"q": 0}, {"q": 1}, {"q": 2})
    r = session.post(
        f"{api}/datasets/{ds}/logs/list/?include_fields=unique_id,output",
        json={"is_exporting": True, "export_format": ".csv"},
    )
    answer = r.json()
    assert answer["message"].startswith("Export of 4 logs ready")
    assert (answer["export_format"], answer["count"]) == (".csv", 4)
    assert answer["content"].splitlines()[0] == "unique_id,output"
    r = session.post(
        f"{api}/datasets/{ds}/logs/list/", json={"is_exporting": True, "export_format": ".xlsx"}
    )
    assert r.status_code == 400
    assert "export_format" in r.json()["errors"]


# ---------------------------------------------------------------- experiments


WORKFLOW = [{"type": "completion", "config": {"model": "gpt-4o-mini"}}]


def test_experiment_create_get_list(session: requests.Session, api: str) -> None:
    ds = make_dataset(session, api, "QA")
    r = session.post(
        f"{api}/v2/experiments/",
        json={"dataset_id": ds, "workflow": WORKFLOW, "evaluator_slugs": ["quality"], "name": "e1"},
    )
    assert r.status_code == 201
    exp = r.json()
    assert exp["status"] == "pending"
    assert exp["dataset_name"] == "QA"
    assert exp["evaluator_ids"] == ["quality"]
    assert exp["workflow_count"] == 1
    assert exp["batch_size"] == 100
    assert exp["concurrency"] == 15
    assert exp["enable_tracing"] is True
    assert uuid.UUID(exp["id"])
    assert session.get(f"{api}/v2/experiments/{exp['id']}/").json() == exp
    r = session.post(
        f"{api}/v2/experiments/",
        json={
            "dataset_id": ds,
            "workflow": WORKFLOW,
            "evaluator_workflow_ids": ["wf1"],
            "experiment_id": "my-exp",
            "concurrency": 3,
        },
    )
    assert r.status_code == 201
    assert r.json()["id"] == "my-exp"
    assert r.json()["concurrency"] == 3
    listing = session.post(f"{api}/v2/experiments/list/", json={}).json()
    assert listing["count"] == 2
    assert [e["id"] for e in listing["results"]] == ["my-exp", exp["id"]]
    assert session.get(f"{api}/v2/experiments/").json()["count"] == 2
    filtered = session.post(
        f"{api}/v2/experiments/list/",
        json={"filters": {"name": {"operator": "", "value": "e1"}}},
    ).json()
    assert [e["id"] for e in filtered["results"]] == [exp["id"]]
    assert session.delete(f"{api}/v2/experiments/my-exp/").status_code == 204
    assert session.get(f"{api}/v2/experiments/my-exp/").status_code == 404
    dup = {"dataset_id": ds, "workflow": WORKFLOW, "evaluator_ids": ["q"], "experiment_id": "d"}
    assert session.post(f"{api}/v2/experiments/", json=dup).status_code == 201
    r = session.post(f"{api}/v2/experiments/", json=dup)
    assert r.status_code == 400
    assert "experiment_id" in r.json()["errors"]


@pytest.mark.parametrize(
    "scoring",
    [
        {},
        {"evaluator_ids": ["a"], "evaluator_workflow_ids": ["w"]},
        {"evaluator_slugs": ["a"], "evaluator_workflow_ids": ["w"]},
        {"evaluator_ids": [], "evaluator_workflow_ids": []},
    ],
)
def test_experiment_needs_exactly_one_scoring_path(
    session: requests.Session, api: str, scoring: dict[str, object]
) -> None:
    r = session.post(
        f"{api}/v2/experiments/", json={"dataset_id": "d", "workflow": WORKFLOW, **scoring}
    )
    assert r.status_code == 400
    errors = r.json()["errors"]
    assert {"evaluator_ids", "evaluator_slugs", "evaluator_workflow_ids"} <= set(errors)
    assert "exactly one scoring path" in errors["evaluator_ids"][0]


def test_experiment_required_fields(session: requests.Session, api: str) -> None:
    r = session.post(f"{api}/v2/experiments/", json={"evaluator_ids": ["a"]})
    assert r.status_code == 400
    assert {"dataset_id", "workflow"} <= set(r.json()["errors"])
    r = session.post(
        f"{api}/v2/experiments/",
        json={"dataset_id": "d", "workflow": [{"config": {}}], "evaluator_ids": ["a"]},
    )
    assert r.status_code == 400
    assert "workflow" in r.json()["errors"]
    r = session.post(
        f"{api}/v2/experiments/",
        json={"dataset_id": "d", "workflow": WORKFLOW, "evaluator_ids": ["a"], "batch_size": 0},
    )
    assert r.status_code == 400
    assert "batch_size" in r.json()["errors"]


# ---------------------------------------------------------------- protocol and errors


ROUTES = [
    ("POST", "/api/datasets/"),
    ("GET", "/api/datasets/"),
    ("POST", "/api/datasets/list/"),
    ("GET", "/api/datasets/{ds}/"),
    ("PATCH", "/api/datasets/{ds}/"),
    ("DELETE", "/api/datasets/{ds}/"),
    ("POST", "/api/datasets/{ds}/logs/"),
    ("POST", "/api/datasets/{ds}/logs/bulk/"),
    ("POST", "/api/datasets/{ds}/logs/list/"),
    ("GET", "/api/datasets/{ds}/logs/list/"),
    ("GET", "/api/datasets/{ds}/logs/{uid}/"),
    ("PATCH", "/api/datasets/{ds}/logs/{uid}/"),
    ("PUT", "/api/datasets/{ds}/logs/{uid}/"),
    ("DELETE", "/api/datasets/{ds}/logs/{uid}/"),
    ("POST", "/api/v2/experiments/"),
    ("GET", "/api/v2/experiments/"),
    ("POST", "/api/v2/experiments/list/"),
    ("GET", "/api/v2/experiments/{exp}/"),
    ("GET", "/api/unknown/route/"),
]


@pytest.fixture(scope="module")
def auth_target() -> Iterator[tuple[LocalRespan, str, str]]:
    with LocalRespan(api_key=KEY) as srv, requests.Session() as s:
        s.headers.update(AUTH)
        api = srv.base_url + "/api"
        ds = make_dataset(s, api)
        uid = s.post(f"{api}/datasets/{ds}/logs/", json={"input": 1}).json()["unique_id"]
        yield srv, ds, uid


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize("auth", [None, "Bearer wrong-key", "Basic abc", f"Token {KEY}", "Bearer"])
def test_every_route_needs_the_key(
    auth_target: tuple[LocalRespan, str, str], method: str, path: str, auth: str | None
) -> None:
    server, ds, uid = auth_target
    api = server.base_url + "/api"
    url = server.base_url + path.format(ds=ds, uid=uid, exp="e")
    headers = {} if auth is None else {"Authorization": auth}
    r = requests.request(method, url, json={"input": 1}, headers=headers, timeout=5)
    assert r.status_code == 401
    assert set(r.json()) == {"detail"}
    assert KEY not in r.text
    assert "wrong-key" not in r.text
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert requests.get(f"{api}/datasets/{ds}/logs/{uid}/", headers=AUTH, timeout=5).ok


def test_random_and_env_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RESPAN_API_KEY", raising=False)
    a, b = LocalRespan(), LocalRespan()
    assert a.api_key != b.api_key
    assert a.api_key_generated
    assert len(a.api_key) > 20
    monkeypatch.setenv("RESPAN_API_KEY", "from-env")
    assert LocalRespan().api_key == "from-env"
    assert not LocalRespan().api_key_generated
    assert LocalRespan(api_key="given").api_key == "given"
    assert "from-env" not in repr(LocalRespan())


def test_paths_without_trailing_slash_are_served(session: requests.Session, api: str) -> None:
    r = session.post(f"{api}/datasets", json={"name": "x"})
    assert r.status_code == 201
    assert r.history == []
    ds = r.json()["id"]
    r = session.post(f"{api}/datasets/{ds}/logs", json={"input": 1})
    assert r.status_code == 201
    assert session.get(f"{api}/datasets/{ds}/logs/{r.json()['unique_id']}").status_code == 200
    assert session.post(f"{api}/datasets/{ds}/logs/list", json={}).json()["count"] == 1
    assert session.get(f"{api}/v2/experiments").status_code == 200


def test_unknown_route_404_and_wrong_method_405(session: requests.Session, api: str) -> None:
    r = session.get(f"{api}/nothing/here/")
    assert r.status_code == 404
    assert r.json() == {"detail": "Not found."}
    assert session.get(f"{api}/datasets/x/logs/y/z/").status_code == 404
    r = session.put(f"{api}/datasets/")
    assert r.status_code == 405
    assert r.headers["Allow"] == "GET, POST"
    assert "detail" in r.json()
    assert session.delete(f"{api}/v2/experiments/list/").status_code == 405
    assert session.post(f"{api}/datasets/{make_dataset(session, api)}/").status_code == 405


def test_non_json_and_non_object_bodies_are_400(session: requests.Session, api: str) -> None:
    ds = make_dataset(session, api)
    for data in (b"{not json", b"\xff\xfe", b'{"input": NaN}', b"[1, 2]", b'"text"'):
        r = session.post(
            f"{api}/datasets/{ds}/logs/", data=data, headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 400, data
        assert "detail" in r.json()
    r = session.post(f"{api}/datasets/{ds}/logs/list/", data=b"oops")
    assert r.status_code == 400


def test_invalid_filters_are_400(session: requests.Session, api: str) -> None:
    ds = make_dataset(session, api)
    for filters in (
        {"cost": {"operator": "bigger", "value": 1}},
        {"cost": 5},
        ["cost"],
        {"custom_identifier": {"operator": "regex", "value": "("}},
        {"a": {"operator": "", "value": 1, "connector": "OR"}},
        {'we"ird': {"operator": "", "value": 1}},
    ):
        r = session.post(f"{api}/datasets/{ds}/logs/list/", json={"filters": filters})
        assert r.status_code == 400, filters
        assert r.json()["detail"].startswith("Invalid filters")
    r = session.post(
        f"{api}/datasets/{ds}/logs/list/", json={"filters": {"cost": {"operator": "bigger"}}}
    )
    assert "bigger" in r.json()["detail"]
    assert "'cost'" in r.json()["detail"]


def test_oversized_body_is_413_before_it_is_read() -> None:
    with LocalRespan(api_key=KEY, max_body_bytes=1000) as srv:
        r = requests.post(
            srv.base_url + "/api/datasets/", data=b"x" * 5000, headers=AUTH, timeout=5
        )
        assert r.status_code == 413
        assert "1000" in r.json()["detail"]
        host, port = srv.base_url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(
                b"POST /api/datasets/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                + KEY.encode()
                + b"\r\nContent-Length: 100000000\r\nExpect: 100-continue\r\n\r\n"
            )
            reply = sock.recv(4096)
        assert reply.startswith(b"HTTP/1.1 413")
        assert b"Connection: close" in reply
        ok = requests.post(
            srv.base_url + "/api/datasets/", json={"name": "n"}, headers=AUTH, timeout=5
        )
        assert ok.status_code == 201


def test_keep_alive_and_content_length(server: LocalRespan) -> None:
    host, port = server.base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        headers = {**AUTH, "Content-Type": "application/json"}
        statuses = []
        for method, path, body in [
            ("POST", "/api/datasets/", json.dumps({"name": "k"})),
            ("GET", "/api/missing/", None),
            ("POST", "/api/datasets/", "not json"),
            ("GET", "/api/datasets/", None),
            ("PUT", "/api/datasets/", None),
        ]:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            assert int(response.headers["Content-Length"]) == len(data)
            assert response.headers.get("Connection") != "close"
            statuses.append(response.status)
        conn.request("GET", "/api/datasets/", headers=headers)
        listing = json.loads(conn.getresponse().read())
        conn.request("DELETE", f"/api/datasets/{listing['results'][0]['id']}/", headers=headers)
        deleted = conn.getresponse()
        assert deleted.status == 204
        assert deleted.read() == b""
        conn.request("GET", "/api/datasets/", headers=headers)
        assert json.loads(conn.getresponse().read())["count"] == 0
    finally:
        conn.close()
    assert statuses == [201, 404, 400, 200, 405]


def _raw_exchange(server: LocalRespan, data: bytes) -> bytes:
    host, port = server.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(data)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    return reply


def test_malformed_requests_get_json_errors(server: LocalRespan) -> None:
    reply = _raw_exchange(server, b"BROKEN\r\n\r\n")
    assert "detail" in json.loads(reply)
    reply = _raw_exchange(
        server, b"GET /api/datasets/ HTTP/1.1\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n"
    )
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431")
    assert b"Content-Type: application/json" in head
    assert "detail" in json.loads(body)
    reply = _raw_exchange(server, b"TRACE /api/datasets/ HTTP/1.1\r\nHost: x\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 401"), "no answer but 401 before authentication"
    reply = _raw_exchange(
        server,
        b"TRACE /api/datasets/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
        + KEY.encode()
        + b"\r\n\r\n",
    )
    assert reply.startswith(b"HTTP/1.1 501")
    r = requests.get(server.base_url + "/api/datasets/", headers=AUTH, timeout=5)
    assert r.status_code == 200


def test_handler_exception_is_500_and_logged(
    server: LocalRespan,
    session: requests.Session,
    api: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(self: Api, request: object, ds: str) -> None:
        raise RuntimeError("injected fault")

    monkeypatch.setattr(Api, "get_dataset", broken)
    with caplog.at_level(logging.ERROR, logger="respan_otel"):
        r = session.get(f"{api}/datasets/{uuid.uuid4()}/")
    assert r.status_code == 500
    assert r.json() == {"detail": "Internal server error"}
    assert any("unhandled error" in rec.getMessage() for rec in caplog.records)
    assert session.get(f"{api}/datasets/").status_code == 200


# ---------------------------------------------------------------- rate limit


def test_rate_limit_emulation_and_recovery() -> None:
    srv = LocalRespan(api_key=KEY, rate_limit_per_minute=3)
    srv._rate_window_seconds = 0.5
    with srv, requests.Session() as session:
        session.headers.update(AUTH)
        url = srv.base_url + "/api/datasets/"
        assert [session.get(url).status_code for _ in range(3)] == [200, 200, 200]
        r = session.get(url)
        assert r.status_code == 429
        assert r.json() == {"detail": "Rate limit exceeded", "retry_after": 1}
        assert r.headers["Retry-After"] == "1"
        time.sleep(0.55)
        assert session.get(url).status_code == 200


def test_rate_limit_retry_after_counts_down_a_minute() -> None:
    with LocalRespan(api_key=KEY, rate_limit_per_minute=2) as srv, requests.Session() as s:
        s.headers.update(AUTH)
        url = srv.base_url + "/api/datasets/"
        assert s.get(url).status_code == 200
        assert s.get(url).status_code == 200
        r = s.get(url)
        assert r.status_code == 429
        assert 58 <= r.json()["retry_after"] <= 60
        assert r.headers["Retry-After"] == str(r.json()["retry_after"])
        assert requests.get(url, timeout=5).status_code == 401


# ---------------------------------------------------------------- lifecycle


def test_nothing_left_behind_after_stop() -> None:
    before = set(threading.enumerate())
    srv = LocalRespan(api_key=KEY).start()
    host, port = srv.base_url.removeprefix("http://").split(":")
    with requests.Session() as idle:
        idle.headers.update(AUTH)
        assert idle.get(srv.base_url + "/api/datasets/").status_code == 200
        srv.stop()
        srv.stop()
        leftover = [t for t in threading.enumerate() if t not in before]
        assert leftover == []
        with (
            pytest.raises(ConnectionRefusedError),
            socket.create_connection((host, int(port)), timeout=1),
        ):
            pass
    with pytest.raises(RuntimeError):
        _ = srv.base_url


def test_restart_and_file_database_persists(tmp_path: Path) -> None:
    db = tmp_path / "respan.db"
    with LocalRespan(api_key=KEY, db=db) as srv, requests.Session() as s:
        s.headers.update(AUTH)
        api = srv.base_url + "/api"
        ds = make_dataset(s, api, "persisted")
        uid = s.post(f"{api}/datasets/{ds}/logs/", json={"input": {"x": 1}}).json()["unique_id"]
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    srv = LocalRespan(api_key=KEY, db=db)
    for _ in range(2):
        with srv, requests.Session() as s:
            s.headers.update(AUTH)
            api = srv.base_url + "/api"
            assert s.get(f"{api}/datasets/{ds}/").json()["name"] == "persisted"
            assert s.get(f"{api}/datasets/{ds}/logs/{uid}/").json()["input"] == {"x": 1}


def test_constructor_does_nothing_and_validates() -> None:
    before = set(threading.enumerate())
    srv = LocalRespan(port=0)
    assert set(threading.enumerate()) == before
    assert not srv.running
    with pytest.raises(ValueError, match="port"):
        LocalRespan(port=70000)
    with pytest.raises(ValueError, match="rate_limit_per_minute"):
        LocalRespan(rate_limit_per_minute=0)
    with pytest.raises(ValueError, match="max_body_bytes"):
        LocalRespan(max_body_bytes=0)


def test_port_in_use_raises_and_leaves_nothing(server: LocalRespan) -> None:
    port = int(server.base_url.rsplit(":", 1)[1])
    before = set(threading.enumerate())
    with pytest.raises(OSError, match="in use"):
        LocalRespan(port=port).start()
    assert set(threading.enumerate()) == before


def _start_serve(tmp_path: Path, *extra: str, env_key: str | None = None) -> subprocess.Popen[str]:
    args = ", ".join(["port=0", f"db={str(tmp_path / 'serve.db')!r}", *extra])
    env = {k: v for k, v in os.environ.items() if k != "RESPAN_API_KEY"}
    if env_key is not None:
        env["RESPAN_API_KEY"] = env_key
    return subprocess.Popen(
        [sys.executable, "-c", f"from respan_otel.local import serve; serve({args})"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.mark.parametrize(
    ("extra", "env_key", "stop_signal"),
    [((), None, signal.SIGINT), (("api_key='given-key'",), None, signal.SIGTERM)],
    ids=["generated-key-ctrl-c", "given-key-sigterm"],
)
def test_serve_prints_one_line_and_stops_cleanly(
    tmp_path: Path, extra: tuple[str, ...], env_key: str | None, stop_signal: signal.Signals
) -> None:
    proc = _start_serve(tmp_path, *extra, env_key=env_key)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        fields = dict(word.split("=", 1) for word in line.split() if "=" in word)
        base_url = fields["RESPAN_BASE_URL"]
        key = fields.get("RESPAN_API_KEY")
        if extra:
            assert key is None
            assert "given-key" not in line
            key = "given-key"
        else:
            assert key is not None
            assert key.startswith("sk-local-")
        r = requests.post(
            base_url + "/api/datasets/",
            json={"name": "served"},
            headers={"Authorization": f"Bearer {key}"},
            timeout=5,
        )
        assert r.status_code == 201
        proc.send_signal(stop_signal)
        assert proc.wait(timeout=10) == 0
        assert proc.stdout.read() == ""
        assert proc.stderr is not None
        assert proc.stderr.read() == ""
    finally:
        proc.kill()
        proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    with sqlite3.connect(tmp_path / "serve.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM datasets").fetchone()[0] == 1
    conn.close()


def test_chunked_and_bad_content_length_are_refused(server: LocalRespan) -> None:
    auth = f"Authorization: Bearer {KEY}\r\n".encode()
    reply = _raw_exchange(
        server,
        b"POST /api/datasets/ HTTP/1.1\r\nHost: x\r\n"
        + auth
        + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    )
    assert reply.startswith(b"HTTP/1.1 411")
    reply = _raw_exchange(
        server,
        b"POST /api/datasets/ HTTP/1.1\r\nHost: x\r\n" + auth + b"Content-Length: -3\r\n\r\n",
    )
    assert reply.startswith(b"HTTP/1.1 400")
    assert b"Content-Length" in reply


def test_head_gets_headers_only(server: LocalRespan) -> None:
    r = requests.head(server.base_url + "/api/datasets/", headers=AUTH, timeout=5)
    assert r.status_code == 405
    assert r.content == b""
    assert int(r.headers["Content-Length"]) > 0


def test_corrupt_database_file_fails_start_cleanly(tmp_path: Path) -> None:
    db = tmp_path / "not-a-db"
    db.write_bytes(b"this is not sqlite" * 100)
    before = set(threading.enumerate())
    with pytest.raises(sqlite3.DatabaseError):
        LocalRespan(db=db).start()
    assert set(threading.enumerate()) == before
