"""The viewer's pages, sign-in and JSON endpoints, over real HTTP to LocalRespan."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest
import requests

from respan_otel import RespanClient
from respan_otel.local import LocalRespan
from respan_otel.local._viewer import COOKIE_NAME
from tests.viewer.conftest import PAGED_LOGS, VIEWER_KEY


@pytest.fixture
def session(viewer_server: LocalRespan) -> requests.Session:
    """A browser-like session that signed in once with the key."""
    browser = requests.Session()
    answer = browser.post(f"{viewer_server.base_url}/ui/login", json={"api_key": VIEWER_KEY})
    assert answer.status_code == 204
    return browser


def get(session: requests.Session, server: LocalRespan, path: str, **params: str) -> dict:
    answer = session.get(f"{server.base_url}/ui/api/{path}", params=params, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def dataset_id(session: requests.Session, server: LocalRespan, name: str) -> str:
    found = get(session, server, "datasets")["results"]
    return next(d["id"] for d in found if d["name"] == name)


def test_the_page_is_served_at_the_root_with_a_strict_policy(viewer_server: LocalRespan):
    page = requests.get(f"{viewer_server.base_url}/", timeout=10)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "/ui/viewer.js" in page.text
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert VIEWER_KEY not in page.text
    for asset, kind in (("viewer.js", "text/javascript"), ("viewer.css", "text/css")):
        answer = requests.get(f"{viewer_server.base_url}/ui/{asset}", timeout=10)
        assert answer.status_code == 200
        assert answer.headers["Content-Type"].startswith(kind)
        assert answer.headers["X-Content-Type-Options"] == "nosniff"


def test_data_needs_the_session_or_the_key(viewer_server: LocalRespan):
    url = f"{viewer_server.base_url}/ui/api/datasets"
    assert requests.get(url, timeout=10).status_code == 401
    forged = requests.get(url, cookies={COOKIE_NAME: "0" * 64}, timeout=10)
    assert forged.status_code == 401
    wrong_bearer = requests.get(url, headers={"Authorization": "Bearer nope"}, timeout=10)
    assert wrong_bearer.status_code == 401
    bearer = requests.get(url, headers={"Authorization": f"Bearer {VIEWER_KEY}"}, timeout=10)
    assert bearer.status_code == 200
    assert requests.get(f"{viewer_server.base_url}/ui/api/nothing", timeout=10).status_code == 401


def test_sign_in_gives_an_httponly_strict_cookie_that_does_not_reveal_the_key(
    viewer_server: LocalRespan,
):
    url = f"{viewer_server.base_url}/ui/login"
    refused = requests.post(url, json={"api_key": "sk-wrong"}, timeout=10)
    assert refused.status_code == 401
    assert "Set-Cookie" not in refused.headers
    answer = requests.post(url, json={"api_key": VIEWER_KEY}, timeout=10)
    assert answer.status_code == 204
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert "Path=/" in cookie
    value = answer.cookies[COOKIE_NAME]
    assert VIEWER_KEY not in cookie
    assert len(value) == 64
    assert VIEWER_KEY.encode().hex() not in value
    signed = requests.get(
        f"{viewer_server.base_url}/ui/api/session", cookies={COOKIE_NAME: value}, timeout=10
    )
    assert signed.json()["signed_in"] is True


def test_sign_out_clears_the_cookie(viewer_server: LocalRespan, session: requests.Session):
    answer = session.post(f"{viewer_server.base_url}/ui/logout", timeout=10)
    assert answer.status_code == 204
    assert "Max-Age=0" in answer.headers["Set-Cookie"]
    assert session.get(f"{viewer_server.base_url}/ui/api/datasets", timeout=10).status_code == 401


def test_the_cookie_does_not_open_the_rest_api(
    viewer_server: LocalRespan, session: requests.Session
):
    """The REST API, which can write, stays Bearer-only: a cookie is no key there."""
    answer = session.get(f"{viewer_server.base_url}/api/datasets/", timeout=10)
    assert answer.status_code == 401


def test_the_viewer_is_read_only(viewer_server: LocalRespan, session: requests.Session):
    some = dataset_id(session, viewer_server, "paged runs")
    for method in ("POST", "DELETE", "PATCH"):
        answer = session.request(
            method, f"{viewer_server.base_url}/ui/api/datasets/{some}", timeout=10
        )
        assert answer.status_code == 405
    assert get(session, viewer_server, f"datasets/{some}")["log_count"] == PAGED_LOGS


def test_unknown_viewer_paths_are_not_found(viewer_server: LocalRespan, session: requests.Session):
    answer = session.get(f"{viewer_server.base_url}/ui/api/nothing/here", timeout=10)
    assert answer.status_code == 404


def test_datasets_with_their_log_counts(viewer_server: LocalRespan, session: requests.Session):
    found = {d["name"]: d for d in get(session, viewer_server, "datasets")["results"]}
    assert found["respan-otel quickstart"]["log_count"] == 11
    assert found["paged runs"]["log_count"] == PAGED_LOGS


def test_logs_come_newest_first_one_server_page_at_a_time(
    viewer_server: LocalRespan, session: requests.Session
):
    first = get(session, viewer_server, "datasets/paged runs/logs")  # by name, too
    assert first["count"] == PAGED_LOGS
    assert first["pages"] == 3
    assert len(first["results"]) == 50
    names = [row["name"] for row in first["results"]]
    assert names[:3] == ["step-129", "step-128", "step-127"]
    row = first["results"][0]
    assert set(row) >= {"type", "status", "model", "tokens", "cost", "latency", "input", "output"}
    assert row["tokens"] == 139
    assert row["model"] == "gpt-4o"
    assert row["type"] == "llm"
    last = get(session, viewer_server, "datasets/paged runs/logs", page="3")
    assert [r["name"] for r in last["results"]][-1] == "step-000"
    assert len(last["results"]) == PAGED_LOGS - 100
    beyond = get(session, viewer_server, "datasets/paged runs/logs", page="9")
    assert beyond["results"] == []


def test_an_explicit_id_names_the_dataset(viewer_server: LocalRespan, session: requests.Session):
    some = dataset_id(session, viewer_server, "paged runs")
    # the call-site rule's explicit form, id:<id>, reads the same dataset as the bare id
    assert get(session, viewer_server, f"datasets/id:{some}")["log_count"] == PAGED_LOGS


def test_filters_use_the_api_filters(viewer_server: LocalRespan, session: requests.Session):
    errors = get(session, viewer_server, "datasets/paged runs/logs", status="error")
    assert errors["count"] == 13
    assert {r["status"] for r in errors["results"]} == {"error"}
    typed = get(session, viewer_server, "datasets/paged runs/logs", type="task", model="gpt-4o")
    assert typed["count"] == len([i for i in range(PAGED_LOGS) if i % 2 == 0 and i % 3 == 0])
    found = get(session, viewer_server, "datasets/paged runs/logs", q="QUESTION 042")
    assert [r["name"] for r in found["results"]] == ["step-042"]
    in_output = get(
        session, viewer_server, "datasets/paged runs/logs", q="answer 07", **{"in": "output"}
    )
    assert in_output["count"] == 10
    bad = session.get(
        f"{viewer_server.base_url}/ui/api/datasets/paged runs/logs",
        params={"q": "x", "in": "secret"},
        timeout=10,
    )
    assert bad.status_code == 400


def test_one_log_comes_with_its_trace_as_a_timed_tree(
    viewer_server: LocalRespan, session: requests.Session
):
    page = get(session, viewer_server, "datasets/respan-otel quickstart/logs", q="refund")
    generate = next(r for r in page["results"] if r["name"] == "generate")
    detail = get(session, viewer_server, f"datasets/respan-otel quickstart/logs/{generate['id']}")
    assert detail["log"]["unique_id"] == generate["id"]
    trace = detail["trace"]
    nodes = trace["nodes"]
    assert [(n["name"], n["depth"]) for n in nodes] == [
        ("support_agent", 0),
        ("plan", 1),
        ("retrieve", 1),
        ("generate", 1),
        ("moderate", 1),
    ]
    assert [n["current"] for n in nodes] == [False, False, False, True, False]
    assert nodes[0]["offset"] == 0
    assert nodes[0]["duration"] == pytest.approx(trace["total"])
    for node in nodes[1:]:
        assert 0 <= node["offset"] <= trace["total"]
        assert node["offset"] + node["duration"] <= trace["total"] + 1e-6
    starts = [n["offset"] for n in nodes[1:]]
    assert starts == sorted(starts), "siblings in the order they ran"


def test_a_get_with_a_body_does_not_poison_the_connection(viewer_server: LocalRespan):
    """A body the viewer does not read must not be parsed as the next request."""
    host, port = urlsplit(viewer_server.base_url).netloc.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(
            b"GET /ui/api/session HTTP/1.1\r\nHost: x\r\nContent-Length: 24\r\n\r\n"
            b"GET /ui/viewer.js HTTP/1"
        )
        reply = b""
        while chunk := conn.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 401")
    assert reply.count(b"HTTP/1.1 ") == 1
    assert b"Connection: close" in reply


def test_experiments_with_the_mean_and_the_rows_of_each_score(
    viewer_server: LocalRespan, session: requests.Session
):
    listed = {e["name"]: e for e in get(session, viewer_server, "experiments")["results"]}
    found = get(session, viewer_server, f"experiments/{listed['prompt v2']['id']}")
    assert found["experiment"]["dataset_name"] == "qa"
    assert found["means"]["exact"] == pytest.approx(2 / 3)
    assert found["means"]["similarity"] == pytest.approx(0.6)
    by_input = {row["input"]: row for row in found["results"]}
    assert by_input['{"q":"q2"}']["scores"] == {"exact": False, "similarity": pytest.approx(0.7)}
    assert by_input['{"q":"q0"}']["scores"] == {"exact": True, "similarity": 0.5}
    assert found["count"] == 3
    run = get(session, viewer_server, f"experiments/{listed['support run 1']['id']}")
    assert sorted(row["scores"]["contains"] for row in run["results"]) == [False, True, True]
    assert run["means"]["contains"] == pytest.approx(2 / 3)


def test_run_experiment_results_show_their_scores_per_row(
    viewer_server: LocalRespan, session: requests.Session
):
    page = get(session, viewer_server, "datasets/support run 1/logs")
    scores = {row["output"]: row["scores"] for row in page["results"]}
    assert scores == {"a0": {"contains": 1.0}, "?": {"contains": 0.0}, "a2": {"contains": 1.0}}
    plain = get(session, viewer_server, "datasets/paged runs/logs")
    assert all(row["scores"] == {} for row in plain["results"])


def test_traces_named_the_way_other_sdks_name_them(
    viewer_server: LocalRespan, session: requests.Session
):
    """Logs that carry Respan's trace_unique_id/span_parent_id (not our metadata ids)."""
    with RespanClient(api_key=VIEWER_KEY, base_url=viewer_server.base_url) as client:
        dataset = client.datasets.create(name="foreign traces").id
        spans = [("root", "s1", None, 0.0), ("child", "s2", "s1", 0.1), ("other", "s9", None, 0.2)]
        client.datasets.logs.bulk_create(
            dataset,
            [
                {
                    "input": name,
                    "metadata": {
                        "trace_unique_id": "t-other" if name == "other" else "t-1",
                        "span_unique_id": span,
                        **({"span_parent_id": parent} if parent else {}),
                        "span_name": name,
                    },
                    "start_time": f"2026-04-01T00:00:0{offset * 10:.0f}Z",
                    "metrics": {"latency": 0.5},
                }
                for name, span, parent, offset in spans
            ],
        )
    page = get(session, viewer_server, f"datasets/{dataset}/logs", q="child")
    detail = get(session, viewer_server, f"datasets/{dataset}/logs/{page['results'][0]['id']}")
    nodes = [(n["name"], n["depth"], n["current"]) for n in detail["trace"]["nodes"]]
    assert nodes == [("root", 0, False), ("child", 1, True)]
