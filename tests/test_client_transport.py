"""Construction, configuration, headers, sharing across threads and fork, and the test server."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from respan_otel._version import __version__
from respan_otel.client._client import RespanClient
from respan_otel.client._errors import APITimeoutError, RespanError
from respan_otel.client._transport import normalize_base_url
from tests.faulty_server import FaultyServer, Reply, json_reply

KEY = "sk-transport-test"


@pytest.fixture
def server() -> Iterator[FaultyServer]:
    with FaultyServer(default=json_reply(200, id="d1")) as srv:
        yield srv


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RESPAN_API_KEY", raising=False)
    monkeypatch.delenv("RESPAN_BASE_URL", raising=False)


@pytest.mark.parametrize(
    ("given", "root"),
    [
        ("https://api.respan.ai", "https://api.respan.ai"),
        ("https://api.respan.ai/", "https://api.respan.ai"),
        ("https://api.respan.ai/api", "https://api.respan.ai"),
        ("https://api.respan.ai/api/", "https://api.respan.ai"),
        ("  HTTPS://API.respan.ai/api//  ", "https://api.respan.ai"),
        ("https://gateway.example/respan/api", "https://gateway.example/respan"),
        ("https://example.com:8443/api", "https://example.com:8443"),
        ("http://localhost:8787", "http://localhost:8787"),
        ("http://127.0.0.1:8787/api/", "http://127.0.0.1:8787"),
        ("http://[::1]:8787", "http://[::1]:8787"),
    ],
)
def test_base_url_forms(given: str, root: str) -> None:
    assert normalize_base_url(given) == root


@pytest.mark.parametrize("suffix", ["", "/", "/api", "/api/"])
def test_every_base_url_form_reaches_the_same_paths(server: FaultyServer, suffix: str) -> None:
    with RespanClient(KEY, server.url + suffix) as client:
        client.datasets.get("d1")
        client.datasets.logs.list("d1")
    assert [r.route for r in server.requests] == [
        "/api/datasets/d1/",
        "/api/datasets/d1/logs/list/",
    ]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://api.respan.ai", "must start with http:// or https://"),
        ("api.respan.ai", "must start with http:// or https://"),
        ("https://", "has no host"),
        ("https://user:pw@api.respan.ai", "must not contain credentials"),
        ("https://api.respan.ai/?x=1", "must not have a query"),
        ("https://api.respan.ai:99999", "invalid host or port"),
        ("http://api.respan.ai", "plain http:// to api.respan.ai"),
        ("http://10.0.0.5:8787", "allow_insecure_http=True"),
        ("", "non-empty"),
    ],
)
def test_bad_base_urls(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        RespanClient(KEY, url)
    assert "pw" not in str(caught.value)


def test_insecure_http_can_be_allowed() -> None:
    with RespanClient(KEY, "http://10.0.0.5:8787", allow_insecure_http=True) as client:
        assert client.base_url == "http://10.0.0.5:8787"


def test_env_fallbacks(server: FaultyServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESPAN_API_KEY", "sk-from-env")
    monkeypatch.setenv("RESPAN_BASE_URL", server.url + "/api")
    with RespanClient() as client:
        assert client.base_url == server.url
        client.datasets.get("d1")
    assert server.requests[0].header("Authorization") == "Bearer sk-from-env"


def test_arguments_win_over_env(server: FaultyServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESPAN_API_KEY", "sk-from-env")
    monkeypatch.setenv("RESPAN_BASE_URL", "https://api.respan.ai")
    with RespanClient(KEY, server.url) as client:
        client.datasets.get("d1")
    assert server.requests[0].header("Authorization") == f"Bearer {KEY}"


def test_default_base_url() -> None:
    with RespanClient(KEY) as client:
        assert client.base_url == "https://api.respan.ai"


def test_bad_env_base_url_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESPAN_BASE_URL", "http://api.respan.ai")
    with pytest.raises(ValueError, match=r"base_url \(from RESPAN_BASE_URL\) uses plain http"):
        RespanClient(KEY)


@pytest.mark.parametrize("key", [None, "", "   "])
def test_missing_key_names_the_variable(key: str | None) -> None:
    with pytest.raises(RespanError, match="RESPAN_API_KEY"):
        RespanClient(key)


def test_key_with_whitespace_inside_is_refused() -> None:
    with pytest.raises(ValueError, match="api_key must not contain whitespace") as caught:
        RespanClient("sk-abc\r\nX-Injected: 1")
    assert "sk-abc" not in str(caught.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timeout": 0}, "timeout must be a number of seconds > 0"),
        ({"timeout": -1.5}, "timeout must be"),
        ({"timeout": float("inf")}, "timeout must be"),
        ({"timeout": "5"}, "timeout must be"),
        ({"max_retries": -1}, "max_retries must be an integer >= 0"),
        ({"max_retries": 1.5}, "max_retries must be"),
        ({"max_retries": True}, "max_retries must be"),
        ({"verify": 1}, "verify must be"),
    ],
)
def test_bad_options_are_named(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RespanClient(KEY, **kwargs)  # type: ignore[arg-type]


def test_headers_and_trailing_slashes(server: FaultyServer) -> None:
    with RespanClient(KEY, server.url) as client:
        client.datasets.get("d1")
        client.datasets.create(name="n")
        client.experiments.get("e1")
    for request in server.requests:
        assert request.header("Authorization") == f"Bearer {KEY}"
        assert request.header("User-Agent") == f"respan-otel/{__version__}"
        assert request.header("Accept") == "application/json"
        assert request.route.endswith("/")
    assert server.requests[0].header("Content-Type") is None
    assert server.requests[1].header("Content-Type") == "application/json"


def test_netrc_cannot_replace_the_key(
    server: FaultyServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine 127.0.0.1 login someone password other\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    with RespanClient(KEY, server.url) as client:
        client.datasets.get("d1")
    assert server.requests[0].header("Authorization") == f"Bearer {KEY}"


def test_repr_and_close(server: FaultyServer) -> None:
    client = RespanClient(KEY, server.url, timeout=5, max_retries=1)
    assert repr(client) == f"RespanClient(base_url={server.url!r})"
    assert (client.timeout, client.max_retries, client.closed) == (5.0, 1, False)
    with client:
        client.datasets.get("d1")
    assert client.closed
    client.close()
    with pytest.raises(RuntimeError, match="closed"):
        client.datasets.get("d1")


def test_non_serialisable_body_is_a_type_error(server: FaultyServer) -> None:
    with RespanClient(KEY, server.url) as client:
        with pytest.raises(TypeError, match="not JSON-serializable"):
            client.datasets.logs.create("d1", {"x": object()})
        with pytest.raises(TypeError, match="not JSON-serializable"):
            client.datasets.logs.create("d1", float("nan"))
    assert server.requests == []


def test_one_client_shared_by_many_threads(server: FaultyServer) -> None:
    failures: list[BaseException] = []
    with RespanClient(KEY, server.url) as client:

        def work(worker: int) -> None:
            try:
                for n in range(5):
                    assert client.datasets.get(f"d{worker}-{n}").id == "d1"
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert failures == []
    assert len(server.requests) == 60
    assert len({r.route for r in server.requests}) == 60


def test_after_fork_reset_gives_a_fresh_session(server: FaultyServer) -> None:
    with RespanClient(KEY, server.url) as client:
        client.datasets.get("d1")
        before = client._http._session
        client._http._reset_after_fork()
        assert client._http._session is not before
        client.datasets.get("d1")
        before.close()
    assert len(server.requests) == 2


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_forked_child_uses_its_own_connections(server: FaultyServer) -> None:
    with RespanClient(KEY, server.url) as client:
        client.datasets.get("parent-1")
        parent_session = id(client._http._session)
        pid = os.fork()
        if pid == 0:  # child: report through the exit status only
            code = 1
            try:
                fresh = id(client._http._session) != parent_session
                client.datasets.get("child")
                code = 0 if fresh else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        client.datasets.get("parent-2")
    assert sorted(r.route for r in server.requests) == [
        "/api/datasets/child/",
        "/api/datasets/parent-1/",
        "/api/datasets/parent-2/",
    ]


def test_faulty_server_leaves_nothing_behind() -> None:
    threads_before = threading.active_count()
    with FaultyServer(Reply(200, {"id": "x"}, delay=5), Reply(drop=True)) as server:
        port = int(server.url.rsplit(":", 1)[1])
        with RespanClient(KEY, server.url, timeout=0.1, max_retries=0) as client:
            with pytest.raises(RespanError):
                client.datasets.get("slow")
            with pytest.raises(RespanError):
                client.datasets.get("dropped")
        idle = RespanClient(KEY, server.url)
        server.enqueue(json_reply(200, id="kept-alive"))
        idle.datasets.get("x")  # leaves a kept-alive connection open across stop()
    assert threading.active_count() == threads_before
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    idle.close()


def test_transport_sends_pre_encoded_content_with_a_per_call_timeout(
    server: FaultyServer,
) -> None:
    server.enqueue(Reply(200, {"ok": True}), Reply(200, {"late": True}, delay=0.5))
    with RespanClient(KEY, server.url, timeout=10, max_retries=0) as client:
        answer = client._http.request(
            "POST", "/api/datasets/d1/logs/bulk/", content=b'{"logs":[]}', idempotent=False
        )
        assert answer == {"ok": True}
        with pytest.raises(APITimeoutError, match=r"timed out after 0\.1 s"):
            client._http.request("GET", "/api/datasets/d1/", idempotent=True, timeout=0.1)
        with pytest.raises(ValueError, match="body or content"):
            client._http.request("POST", "/x/", body={}, content=b"{}", idempotent=False)
    assert server.requests[0].body == b'{"logs":[]}'
    assert server.requests[0].header("Content-Type") == "application/json"
