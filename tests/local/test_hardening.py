"""Issue 13's findings against the local server, over real sockets: malformed values get a
400 (never a 500), bulk errors stay per item, auth comes first, the regex filter is
bounded, connections and request time are capped, links ignore a forged Host, CSV is
formula-safe, and the key survives a restart."""

from __future__ import annotations

import csv
import io
import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from respan_otel import RespanClient
from respan_otel.local import LocalRespan

KEY = "sk-hardening"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
def server() -> Iterator[LocalRespan]:
    with LocalRespan(api_key=KEY) as srv:
        yield srv


@pytest.fixture
def api(server: LocalRespan) -> str:
    return server.base_url + "/api"


def _dataset(api: str) -> str:
    r = requests.post(f"{api}/datasets/", json={"name": "h"}, headers=AUTH, timeout=10)
    assert r.status_code == 201
    return str(r.json()["id"])


def _raw(server: LocalRespan, data: bytes, *, wait: float = 10.0) -> bytes:
    with socket.create_connection(("127.0.0.1", int(server.base_url.rsplit(":", 1)[1]))) as s:
        s.settimeout(wait)
        s.sendall(data)
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


BAD_VALUES = [
    pytest.param(b'{"input": "x", "output": {"score": 1e400}}', id="1e400"),
    pytest.param(b'{"input": "\\ud800"}', id="lone-surrogate"),
    pytest.param(
        b'{"input": "x", "prompt_tokens": 9223372036854775807, "completion_tokens": 9}',
        id="token-sum-overflow",
    ),
    pytest.param(b'{"input": "x", "timestamp": "2024-01-01T00:00:00+99:00"}', id="offset-99h"),
    pytest.param(b'{"input": "x", "timestamp": "0001-01-01T00:00:00+01:00"}', id="before-year-1"),
    pytest.param(b'{"input": "x", "start_time": "9999-12-31T23:59:59-01:00"}', id="after-9999"),
    pytest.param(b'{"input": "x", "metrics": {"prompt_tokens": 1.5}}', id="fractional-tokens"),
]


@pytest.mark.parametrize("body", BAD_VALUES)
def test_a_malformed_value_is_a_400_on_create_and_one_item_error_in_bulk(
    api: str, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    ds = _dataset(api)
    headers = {**AUTH, "Content-Type": "application/json"}
    r = requests.post(f"{api}/datasets/{ds}/logs/", data=body, headers=headers, timeout=10)
    assert r.status_code == 400, r.text
    assert r.json()["detail"]
    bulk = b'{"logs": [{"input": "ok"}, ' + body + b', {"input": "ok too"}]}'
    r = requests.post(f"{api}/datasets/{ds}/logs/bulk/", data=bulk, headers=headers, timeout=10)
    assert r.status_code == 201, r.text
    answer = r.json()
    assert (answer["success_count"], answer["error_count"]) == (2, 1)
    assert [e["index"] for e in answer["errors"]] == [1]
    assert isinstance(answer["errors"][0]["error"], str)
    listed = requests.post(f"{api}/datasets/{ds}/logs/list/", json={}, headers=AUTH, timeout=10)
    assert listed.status_code == 200
    assert listed.json()["count"] == 2
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_huge_page_numbers_and_bad_page_sizes_are_not_500s(api: str) -> None:
    ds = _dataset(api)
    for query, status in [
        ({"page": str(10**30)}, 200),
        ({"page": "-1"}, 404),
        ({"page_size": "0"}, 400),
        ({"page_size": "x"}, 400),
    ]:
        r = requests.post(
            f"{api}/datasets/{ds}/logs/list/", params=query, json={}, headers=AUTH, timeout=10
        )
        assert r.status_code == status, (query, r.text)


def test_put_without_input_is_refused_like_create(api: str) -> None:
    ds = _dataset(api)
    created = requests.post(
        f"{api}/datasets/{ds}/logs/", json={"input": "q", "output": "a"}, headers=AUTH, timeout=10
    ).json()
    url = f"{api}/datasets/{ds}/logs/{created['unique_id']}/"
    r = requests.put(url, json={"output": "only"}, headers=AUTH, timeout=10)
    assert r.status_code == 400
    assert "input" in r.json()["errors"]
    assert requests.get(url, headers=AUTH, timeout=10).json()["input"] == "q"


def test_auth_comes_before_everything_but_the_health_check(
    server: LocalRespan, caplog: pytest.LogCaptureFixture
) -> None:
    for request in [
        b"POST /api/datasets/ HTTP/1.1\r\nHost: x\r\nContent-Length: \xb2\r\n\r\n",
        b"POST /api/datasets/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST /api/datasets/ HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        b"BREW /api/datasets/ HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /not-the-api HTTP/1.1\r\nHost: x\r\n\r\n",
    ]:
        reply = _raw(server, request)
        assert reply.startswith(b"HTTP/1.1 401 "), reply[:80]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], "no traceback"
    authed = b"POST /api/datasets/ HTTP/1.1\r\nHost: x\r\nContent-Length: \xb2\r\n"
    reply = _raw(server, authed + f"Authorization: Bearer {KEY}\r\n\r\n".encode())
    assert reply.startswith(b"HTTP/1.1 400 ")
    health = requests.get(server.base_url + "/api/health/", timeout=10)
    assert health.status_code == 200
    assert health.json()["status"] == "ok"


def test_unknown_paths_are_not_found_and_fixed_words_are_not_ids(api: str) -> None:
    ds = _dataset(api)
    for path in ["/unknown/", "/datasets/list/extra/", f"/datasets/{ds}/logs/a/b/"]:
        r = requests.get(api + path, headers=AUTH, timeout=10)
        assert (r.status_code, r.json()) == (404, {"detail": "Not found."}), path
    r = requests.get(f"{api}/datasets/{ds}/logs/import/", headers=AUTH, timeout=10)
    assert r.status_code == 405, "the import route, not a log called 'import'"
    r = requests.get(f"{api}/datasets/{ds}/logs/summary/", headers=AUTH, timeout=10)
    assert r.status_code == 200
    assert r.json()["number_of_requests"] == 0


def test_a_catastrophic_regex_is_cut_off_and_does_not_stall_other_requests(api: str) -> None:
    ds = _dataset(api)
    rows = [{"input": "a" * 40 + "!"} for _ in range(5)]
    requests.post(f"{api}/datasets/{ds}/logs/bulk/", json={"logs": rows}, headers=AUTH, timeout=10)
    # the issue's ^(a+)+$ stalled Python's re; the engine used now finds it at once, but
    # ^(a|aa)+$ still backtracks exponentially in it
    issue = {"filters": {"input": {"operator": "regex", "value": ["^(a+)+$"]}}}
    r = requests.post(f"{api}/datasets/{ds}/logs/list/", json=issue, headers=AUTH, timeout=60)
    assert (r.status_code, r.json()["count"]) == (200, 0)
    evil = {"filters": {"input": {"operator": "regex", "value": ["^(a|aa)+$"]}}}
    answers: list[requests.Response] = []
    worker = threading.Thread(
        target=lambda: answers.append(
            requests.post(f"{api}/datasets/{ds}/logs/list/", json=evil, headers=AUTH, timeout=60)
        )
    )
    worker.start()
    other = requests.get(f"{api}/datasets/", headers=AUTH, timeout=60)
    worker.join(60)
    assert other.status_code == 200
    (answer,) = answers
    assert answer.status_code == 400
    assert "regex" in answer.json()["detail"]
    removal = requests.delete(
        f"{api}/datasets/{ds}/logs/import/", json=evil, headers=AUTH, timeout=60
    )
    assert removal.status_code == 400
    listed = requests.post(f"{api}/datasets/{ds}/logs/list/", json={}, headers=AUTH, timeout=10)
    assert listed.json()["count"] == 5, "the filtered delete was rolled back whole"
    fine = {"filters": {"input": {"operator": "regex", "value": ["^a+!$"]}}}
    r = requests.post(f"{api}/datasets/{ds}/logs/list/", json=fine, headers=AUTH, timeout=10)
    assert r.json()["count"] == 5


def test_ilike_is_linear(api: str) -> None:
    ds = _dataset(api)
    requests.post(
        f"{api}/datasets/{ds}/logs/",
        json={"input": "a" * 5000 + "b"},
        headers=AUTH,
        timeout=10,
    )
    for pattern, count in [("%a%a%a%a%a%a%a%a%c", 0), ("a%A_", 1), ("%b", 1), ("b%", 0)]:
        body = {"filters": {"input": {"operator": "ilike", "value": [pattern]}}}
        r = requests.post(f"{api}/datasets/{ds}/logs/list/", json=body, headers=AUTH, timeout=30)
        assert r.status_code == 200
        assert r.json()["count"] == count, pattern


def test_connections_are_capped() -> None:
    with LocalRespan(api_key=KEY, max_connections=4) as srv:
        port = int(srv.base_url.rsplit(":", 1)[1])
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(4)]
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                alive = [t for t in threading.enumerate() if t.name == "respan-local-connection"]
                if len(alive) == 4:
                    break
                time.sleep(0.05)
            extra = _raw(srv, b"GET /api/datasets/ HTTP/1.1\r\nHost: x\r\n\r\n")
            assert extra.startswith(b"HTTP/1.1 503 ")
            assert b"Retry-After: 1" in extra
            alive = [t for t in threading.enumerate() if t.name == "respan-local-connection"]
            assert len(alive) <= 4
        finally:
            for conn in idle:
                conn.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            r = requests.get(srv.base_url + "/api/datasets/", headers=AUTH, timeout=10)
            if r.status_code == 200:
                break
        assert r.status_code == 200


def test_a_request_trickled_too_slowly_is_cut_off() -> None:
    with LocalRespan(api_key=KEY, request_timeout=0.5) as srv:
        port = int(srv.base_url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.settimeout(20)
            s.sendall(b"GET /api/datasets/ HTTP/1.1\r\nHost: x\r\n")
            got = b""
            for _ in range(10):  # a byte a while, never the end of the headers
                try:
                    s.sendall(b"X")
                except OSError:
                    break
                try:
                    s.settimeout(0.3)
                    got = s.recv(100)
                    break
                except TimeoutError:
                    continue
            assert got == b"", "closed without an answer"


def test_page_links_ignore_a_forged_host(api: str, server: LocalRespan) -> None:
    ds = _dataset(api)
    rows = [{"input": i} for i in range(3)]
    requests.post(f"{api}/datasets/{ds}/logs/bulk/", json={"logs": rows}, headers=AUTH, timeout=10)
    for host, expected in [
        ("evil.example", server.base_url),
        ("localhost:" + server.base_url.rsplit(":", 1)[1], None),
    ]:
        r = requests.post(
            f"{api}/datasets/{ds}/logs/list/?page_size=1",
            json={},
            headers={**AUTH, "Host": host},
            timeout=10,
        )
        link = r.json()["next"]
        assert link.startswith((expected or f"http://{host}") + "/api/"), link


def test_csv_exports_defuse_spreadsheet_formulas(api: str, server: LocalRespan) -> None:
    ds = _dataset(api)
    rows = [
        {"input": '=HYPERLINK("http://x")', "output": "+1", "metadata": {"k": "@SUM(A1)"}},
        {"input": "-2", "output": 5, "expected_output": -3},
    ]
    requests.post(f"{api}/datasets/{ds}/logs/bulk/", json={"logs": rows}, headers=AUTH, timeout=10)
    r = requests.post(
        f"{api}/datasets/{ds}/logs/list/",
        json={"is_exporting": True, "export_format": ".csv"},
        headers={**AUTH, "Accept": "text/csv"},
        timeout=10,
    )
    with RespanClient(KEY, server.base_url) as client:
        mine = client.datasets.logs.export(ds, "csv")
    for text in (r.text, mine):
        table = list(csv.DictReader(io.StringIO(text)))
        by_input = {row["input"]: row for row in table}
        assert set(by_input) == {'\'=HYPERLINK("http://x")', "'-2"}
        assert by_input['\'=HYPERLINK("http://x")']["output"] == "'+1"
        assert by_input["'-2"]["expected_output"] == "-3", "numbers are not text formulas"
        assert not any(cell.startswith(("=", "+", "@")) for row in table for cell in row.values())


def test_the_generated_key_survives_a_restart_of_the_same_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RESPAN_API_KEY", raising=False)
    db = tmp_path / "local.db"
    with LocalRespan(db=db) as first:
        key = first.api_key
        with RespanClient(key, first.base_url) as client:
            ds = client.datasets.create(name="kept")
    with LocalRespan(db=db) as second:
        assert second.api_key == key
        with RespanClient(key, second.base_url) as client:
            assert client.datasets.get(ds.id).name == "kept"
    with LocalRespan(db=tmp_path / "other.db") as other:
        assert other.api_key != key
        r = requests.get(
            other.base_url + "/api/datasets/", headers={"Authorization": f"Bearer {key}"}
        )
        assert r.status_code == 401
        assert "prints its key at start-up" in r.json()["detail"]


def test_a_non_loopback_bind_warns_and_gives_a_usable_url(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="respan_otel"):
        srv = LocalRespan(api_key=KEY, host="0.0.0.0")
        with srv:
            assert srv.base_url.startswith("http://127.0.0.1:")
            with RespanClient(KEY, srv.base_url) as client:
                assert client.datasets.list_page().count == 0
            assert srv.binding is not None
            assert not srv.binding.loopback
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    message = warning.getMessage()
    assert "every network interface" in message
    assert "allow_insecure_http=True" in message
    assert KEY not in message
