"""Which calls are retried, how often, and how long the client waits in between."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from respan_otel.client._client import RespanClient
from respan_otel.client._errors import (
    APIConnectionError,
    APITimeoutError,
    NotFoundError,
    RateLimitError,
    ServerError,
)
from respan_otel.client._transport import parse_retry_after, retry_delay
from tests.faulty_server import FaultyServer, Reply, json_reply

KEY = "sk-retry-test"
FAST = 0.01  # backoff base for tests: waits of 5-10 ms, 10-20 ms, ...

LOG_PAGE: dict[str, Any] = {"count": 0, "next": None, "previous": None, "results": []}
LOG = {"unique_id": "l1", "input": "q", "output": "a"}
EXPERIMENT = {"id": "e1", "status": "pending"}

READS: dict[str, tuple[str, Callable[[RespanClient], Any], Any]] = {
    "get dataset": ("GET", lambda c: c.datasets.get("d1"), {"id": "d1"}),
    "list datasets": ("POST", lambda c: list(c.datasets.list()), LOG_PAGE),
    "update dataset": ("PATCH", lambda c: c.datasets.update("d1", name="n"), {"id": "d1"}),
    "delete dataset": ("DELETE", lambda c: c.datasets.delete("d1"), None),
    "list logs": ("POST", lambda c: c.datasets.logs.list("d1"), LOG_PAGE),
    "get log": ("GET", lambda c: c.datasets.logs.get("d1", "l1"), LOG),
    "update log": ("PATCH", lambda c: c.datasets.logs.update("d1", "l1", output="b"), LOG),
    "replace log": ("PUT", lambda c: c.datasets.logs.replace("d1", "l1", "q"), LOG),
    "delete log": ("DELETE", lambda c: c.datasets.logs.delete("d1", "l1"), None),
    "get experiment": ("GET", lambda c: c.experiments.get("e1"), EXPERIMENT),
    "list experiments": ("POST", lambda c: list(c.experiments.list()), LOG_PAGE),
}

WORKFLOW = [{"type": "completion", "config": {"model": "gpt-4o-mini"}}]
CREATES: dict[str, Callable[..., Any]] = {
    "create dataset": lambda c, **kw: c.datasets.create(name="n", **kw),
    "create log": lambda c, **kw: c.datasets.logs.create("d1", "q", "a", **kw),
    "bulk create": lambda c, **kw: c.datasets.logs.bulk_create("d1", [{"input": 1}], **kw),
    "create experiment": lambda c, **kw: c.experiments.create(
        dataset_id="d1", workflow=WORKFLOW, evaluator_ids=["ev"], **kw
    ),
}
CREATE_OK = {
    "create dataset": {"id": "d1"},
    "create log": {"message": "ok", "unique_id": "l1"},
    "bulk create": {"success_count": 1, "error_count": 0, "errors": []},
    "create experiment": EXPERIMENT,
}


@pytest.fixture
def server() -> Iterator[FaultyServer]:
    with FaultyServer() as srv:
        yield srv


def make_client(server: FaultyServer, **kwargs: Any) -> RespanClient:
    options: dict[str, Any] = {"max_retries": 2, "_backoff_base": FAST, "timeout": 2}
    options.update(kwargs)
    return RespanClient(KEY, server.url, **options)


@pytest.mark.parametrize("name", list(READS))
def test_reads_and_idempotent_writes_retry_until_success(server: FaultyServer, name: str) -> None:
    method, call, ok_body = READS[name]
    server.enqueue(
        json_reply(503, detail="busy"),
        json_reply(429, detail="Rate limit exceeded", retry_after=0),
        Reply(204) if ok_body is None else Reply(200, ok_body),
    )
    with make_client(server) as client:
        call(client)
    assert [r.method for r in server.requests] == [method] * 3
    assert len({r.path for r in server.requests}) == 1, "each retry repeats the same request"
    assert server.requests[0].body == server.requests[-1].body


@pytest.mark.parametrize("name", list(CREATES))
@pytest.mark.parametrize(
    "failure",
    [json_reply(503, detail="busy"), json_reply(429, retry_after=0), Reply(drop=True)],
    ids=["503", "429", "dropped"],
)
def test_creating_posts_are_not_retried(server: FaultyServer, name: str, failure: Reply) -> None:
    server.enqueue(failure, Reply(200, CREATE_OK[name]))
    with (
        make_client(server) as client,
        pytest.raises((ServerError, RateLimitError, APIConnectionError)),
    ):
        CREATES[name](client)
    assert len(server.requests) == 1
    assert server.requests[0].method == "POST"


@pytest.mark.parametrize("name", list(CREATES))
def test_creating_posts_retry_when_asked_per_call(server: FaultyServer, name: str) -> None:
    server.enqueue(json_reply(503), Reply(drop=True), Reply(200, CREATE_OK[name]))
    with make_client(server) as client:
        CREATES[name](client, retry=True)
    assert len(server.requests) == 3


def test_creating_posts_retry_with_client_option(server: FaultyServer) -> None:
    server.enqueue(json_reply(502), Reply(200, {"id": "d1"}))
    with make_client(server, retry_creates=True) as client:
        assert client.datasets.create(name="n").id == "d1"
    assert len(server.requests) == 2


def test_retry_false_turns_off_retries_of_a_create_even_with_client_option(
    server: FaultyServer,
) -> None:
    server.enqueue(json_reply(502), Reply(200, {"id": "d1"}))
    with make_client(server, retry_creates=True) as client, pytest.raises(ServerError):
        client.datasets.create(name="n", retry=False)
    assert len(server.requests) == 1


def test_gives_up_after_max_retries_with_the_last_error(server: FaultyServer) -> None:
    server.enqueue(json_reply(500), json_reply(502), json_reply(503, detail="last"))
    with make_client(server, max_retries=2) as client, pytest.raises(ServerError) as caught:
        client.datasets.get("d1")
    assert caught.value.status_code == 503
    assert "last" in str(caught.value)
    assert len(server.requests) == 3


def test_max_retries_zero_sends_once(server: FaultyServer) -> None:
    server.enqueue(json_reply(503), Reply(200, {"id": "d1"}))
    with make_client(server, max_retries=0) as client, pytest.raises(ServerError):
        client.datasets.get("d1")
    assert len(server.requests) == 1


def test_client_errors_are_not_retried(server: FaultyServer) -> None:
    server.enqueue(json_reply(404, detail="Dataset not found"), Reply(200, {"id": "d1"}))
    with make_client(server) as client, pytest.raises(NotFoundError):
        client.datasets.get("d1")
    assert len(server.requests) == 1


def test_timeouts_of_reads_are_retried(server: FaultyServer) -> None:
    server.enqueue(Reply(200, {"id": "slow"}, delay=1), Reply(200, {"id": "d1"}))
    with make_client(server, timeout=0.1) as client:
        assert client.datasets.get("d1").id == "d1"
    assert len(server.requests) == 2


def test_timeout_of_a_create_is_not_retried(server: FaultyServer) -> None:
    server.enqueue(Reply(200, {"id": "slow"}, delay=1), Reply(200, {"id": "d1"}))
    with make_client(server, timeout=0.1) as client, pytest.raises(APITimeoutError):
        client.datasets.create(name="n")
    assert len(server.requests) == 1


def gaps(server: FaultyServer) -> list[float]:
    arrivals = [r.received_at for r in server.requests]
    return [later - earlier for earlier, later in itertools.pairwise(arrivals)]


def test_body_retry_after_is_honoured(server: FaultyServer) -> None:
    server.enqueue(
        json_reply(429, detail="Rate limit exceeded", retry_after=0.2), Reply(200, {"id": "d1"})
    )
    with make_client(server) as client:
        client.datasets.get("d1")
    assert len(server.requests) == 2
    assert gaps(server)[0] >= 0.2


def test_header_retry_after_is_honoured_on_5xx_too(server: FaultyServer) -> None:
    server.enqueue(
        Reply(503, "maintenance", headers={"Retry-After": "0.15"}),
        Reply(429, {}, headers={"Retry-After": "0.1"}),
        Reply(200, {"id": "d1"}),
    )
    with make_client(server) as client:
        client.datasets.get("d1")
    first, second = gaps(server)
    assert first >= 0.15
    assert second >= 0.1


def test_jitter_never_shortens_a_server_wait(server: FaultyServer) -> None:
    # A backoff base far above retry_after would wait longer; one far below must not
    # wait less than the server asked, whatever the jitter draws.
    server.enqueue(*[json_reply(429, retry_after=0.05) for _ in range(3)], Reply(200, {"id": "x"}))
    with make_client(server, max_retries=3, _backoff_base=0.001) as client:
        client.datasets.get("d1")
    assert len(gaps(server)) == 3
    assert all(gap >= 0.05 for gap in gaps(server))


def test_a_wait_longer_than_the_cap_is_not_retried(server: FaultyServer) -> None:
    server.enqueue(json_reply(429, retry_after=30), Reply(200, {"id": "d1"}))
    with make_client(server, _max_retry_wait=0.5) as client:
        started = time.monotonic()
        with pytest.raises(RateLimitError) as caught:
            client.datasets.get("d1")
        assert time.monotonic() - started < 0.5
    assert caught.value.retry_after == 30
    assert len(server.requests) == 1


def test_backoff_grows_exponentially(server: FaultyServer) -> None:
    server.enqueue(*[json_reply(503) for _ in range(3)], Reply(200, {"id": "d1"}))
    with make_client(server, max_retries=3, _backoff_base=0.02) as client:
        client.datasets.get("d1")
    first, second, third = gaps(server)
    assert first >= 0.01
    assert second >= 0.02
    assert third >= 0.04


def test_retry_delay_bounds() -> None:
    for attempt in range(6):
        low = retry_delay(attempt, base=0.5, cap=60, retry_after=None, rand=lambda: 0.0)
        high = retry_delay(attempt, base=0.5, cap=60, retry_after=None, rand=lambda: 1.0)
        assert low == 0.5 * 2**attempt / 2
        assert high == 0.5 * 2**attempt
    assert retry_delay(20, base=0.5, cap=60, retry_after=None, rand=lambda: 1.0) == 60
    assert retry_delay(0, base=0.5, cap=60, retry_after=10, rand=lambda: 0.0) == 10
    assert retry_delay(0, base=0.5, cap=60, retry_after=61) is None


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("5", 5.0),
        (" 0.25 ", 0.25),
        ("-3", 0.0),
        ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
        ("nan", None),
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    now = 1445412480.0  # Wed, 21 Oct 2015 07:28:00 GMT
    assert parse_retry_after(header, now=now) == expected
