"""Each HTTP failure becomes the right RespanError, with a useful message and no key."""

from __future__ import annotations

import logging
import pickle
import socket
import time
from collections.abc import Iterator
from email.utils import formatdate

import pytest

from respan_otel.client._client import RespanClient
from respan_otel.client._errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RespanError,
    ServerError,
    ValidationError,
)
from tests.faulty_server import FaultyServer, Reply, json_reply

KEY = "sk-test-9f8e7d6c5b4a-secret"


@pytest.fixture
def server() -> Iterator[FaultyServer]:
    with FaultyServer() as srv:
        yield srv


@pytest.fixture
def client(server: FaultyServer) -> Iterator[RespanClient]:
    with RespanClient(KEY, server.url, max_retries=0, timeout=2) as c:
        yield c


def assert_no_key(exc: BaseException) -> None:
    """Neither the message, repr, attributes nor any chained exception shows the key."""
    seen: BaseException | None = exc
    while seen is not None:
        assert KEY not in str(seen)
        assert KEY not in repr(seen)
        assert KEY not in repr(vars(seen))
        seen = seen.__cause__ or seen.__context__


@pytest.mark.parametrize(
    ("status", "body", "cls", "detail"),
    [
        (401, {"detail": "Your API key is invalid or expired"}, AuthenticationError, "invalid"),
        (403, {"detail": "You do not have permission"}, PermissionDeniedError, "permission"),
        (404, {"detail": "Dataset not found"}, NotFoundError, "Dataset not found"),
        (400, {"detail": "Invalid request format"}, ValidationError, "Invalid request"),
        (500, {"detail": "Internal error"}, ServerError, "Internal error"),
        (503, {"detail": "Maintenance"}, ServerError, "Maintenance"),
        (409, {"detail": "Conflict"}, RespanError, "Conflict"),
        (413, {"detail": "Request body too large"}, RespanError, "too large"),
    ],
)
def test_status_maps_to_error_class(
    server: FaultyServer,
    client: RespanClient,
    status: int,
    body: dict[str, str],
    cls: type[RespanError],
    detail: str,
) -> None:
    server.enqueue(Reply(status, body))
    with pytest.raises(cls) as caught:
        client.datasets.get("ds-1")
    exc = caught.value
    assert type(exc) is cls
    assert exc.method == "GET"
    assert exc.path == "/api/datasets/ds-1/"
    assert exc.status_code == status
    assert exc.detail is not None
    assert detail in exc.detail
    assert str(exc).startswith(f"GET /api/datasets/ds-1/ -> {status}: ")
    assert exc.__cause__ is None
    assert_no_key(exc)


def test_validation_error_carries_field_errors(server: FaultyServer, client: RespanClient) -> None:
    server.enqueue(
        json_reply(422, detail="Validation error", errors={"input": ["This field is required."]})
    )
    with pytest.raises(ValidationError) as caught:
        client.datasets.logs.bulk_create("abc", [{"output": 1}])
    exc = caught.value
    assert str(exc) == (
        "POST /api/datasets/abc/logs/bulk/ -> 422: "
        "Validation error (input: This field is required.)"
    )
    assert exc.errors == {"input": ["This field is required."]}
    assert exc.body["detail"] == "Validation error"


def test_rate_limit_retry_after_from_body(server: FaultyServer, client: RespanClient) -> None:
    server.enqueue(json_reply(429, detail="Rate limit exceeded", retry_after=30))
    with pytest.raises(RateLimitError) as caught:
        client.datasets.get("x")
    assert caught.value.retry_after == 30.0
    assert "Rate limit exceeded" in str(caught.value)


def test_rate_limit_retry_after_header_seconds(server: FaultyServer, client: RespanClient) -> None:
    server.enqueue(Reply(429, {"detail": "slow down"}, headers={"Retry-After": "7"}))
    with pytest.raises(RateLimitError) as caught:
        client.datasets.get("x")
    assert caught.value.retry_after == 7.0


def test_rate_limit_retry_after_http_date(server: FaultyServer, client: RespanClient) -> None:
    when = formatdate(time.time() + 120, usegmt=True)
    server.enqueue(Reply(429, "Too Many Requests", headers={"Retry-After": when}))
    with pytest.raises(RateLimitError) as caught:
        client.datasets.get("x")
    assert caught.value.retry_after is not None
    assert 115 <= caught.value.retry_after <= 121


def test_rate_limit_takes_the_longer_of_body_and_header(
    server: FaultyServer, client: RespanClient
) -> None:
    server.enqueue(Reply(429, {"retry_after": 3}, headers={"Retry-After": "5"}))
    with pytest.raises(RateLimitError) as caught:
        client.datasets.get("x")
    assert caught.value.retry_after == 5.0


def test_non_json_error_body_is_a_bounded_excerpt(
    server: FaultyServer, client: RespanClient
) -> None:
    page = "<html><body><h1>502 Bad Gateway</h1>" + "x" * 20_000 + "</body></html>"
    server.enqueue(Reply(502, page, headers={"Content-Type": "text/html"}))
    with pytest.raises(ServerError) as caught:
        client.datasets.get("x")
    message = str(caught.value)
    assert "502 Bad Gateway" in message
    assert len(message) < 400
    assert message.endswith("...")


def test_empty_error_body_uses_the_reason_phrase(
    server: FaultyServer, client: RespanClient
) -> None:
    server.enqueue(Reply(503))
    with pytest.raises(ServerError, match=r"-> 503: Service Unavailable"):
        client.datasets.get("x")


def test_success_with_non_json_body(server: FaultyServer, client: RespanClient) -> None:
    server.enqueue(Reply(200, "<html>login page</html>"))
    with pytest.raises(RespanError, match="not JSON: <html>login page</html>") as caught:
        client.datasets.get("x")
    assert caught.value.status_code == 200


def test_redirect_is_not_followed(server: FaultyServer, client: RespanClient) -> None:
    server.enqueue(Reply(301, headers={"Location": "https://elsewhere.example/api/datasets/x/"}))
    with pytest.raises(RespanError, match="unexpected redirect to https://elsewhere") as caught:
        client.datasets.get("x")
    assert caught.value.status_code == 301
    assert len(server.requests) == 1


def test_dropped_connection(server: FaultyServer, client: RespanClient) -> None:
    server.enqueue(Reply(drop=True))
    with pytest.raises(APIConnectionError) as caught:
        client.datasets.get("x")
    exc = caught.value
    assert not isinstance(exc, APITimeoutError)
    assert exc.status_code is None
    assert exc.method == "GET"
    assert str(exc).startswith("GET /api/datasets/x/ -> connection failed: ")
    assert "object at 0x" not in str(exc)
    assert exc.__cause__ is None
    assert exc.__context__ is None
    assert_no_key(exc)


def test_reply_slower_than_timeout(server: FaultyServer) -> None:
    server.enqueue(Reply(200, {"id": "x"}, delay=2))
    with RespanClient(KEY, server.url, timeout=0.2, max_retries=0) as client:
        started = time.monotonic()
        with pytest.raises(APITimeoutError) as caught:
            client.datasets.get("x")
        assert time.monotonic() - started < 1.5
    exc = caught.value
    assert isinstance(exc, APIConnectionError)
    assert exc.status_code is None
    assert "timed out after 0.2 s" in str(exc)
    assert exc.__context__ is None
    assert_no_key(exc)


def test_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = RespanClient(KEY, f"http://127.0.0.1:{port}", max_retries=0)
    with client, pytest.raises(APIConnectionError) as caught:
        client.datasets.get("x")
    assert "connection failed" in str(caught.value)
    assert_no_key(caught.value)


def test_server_echoing_the_key_is_scrubbed(server: FaultyServer, client: RespanClient) -> None:
    server.enqueue(json_reply(401, detail=f"key {KEY} is revoked"))
    with pytest.raises(AuthenticationError) as caught:
        client.datasets.get("x")
    assert "key *** is revoked" in str(caught.value)
    assert_no_key(caught.value)


def test_errors_pickle_round_trip(server: FaultyServer, client: RespanClient) -> None:
    server.enqueue(json_reply(422, detail="Validation error", errors={"name": ["too long"]}))
    with pytest.raises(ValidationError) as caught:
        client.datasets.create(name="x")
    clone = pickle.loads(pickle.dumps(caught.value))
    assert type(clone) is ValidationError
    assert str(clone) == str(caught.value)
    assert clone.errors == {"name": ["too long"]}
    assert clone.status_code == 422


def test_key_absent_from_logs_and_errors_of_every_kind(
    server: FaultyServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.enqueue(
        json_reply(503, detail="down"),
        json_reply(429, detail="Rate limit exceeded", retry_after=0.01),
        json_reply(200, id="d1", name="n"),
        Reply(drop=True),
        json_reply(401, detail="bad key"),
        Reply(200, {"id": "slow"}, delay=1),
    )
    errors: list[BaseException] = []
    with RespanClient(KEY, server.url, timeout=0.3, max_retries=2, _backoff_base=0.01) as client:
        assert client.datasets.get("d1").name == "n"
        for call in (
            lambda: client.datasets.create(name="a"),
            lambda: client.datasets.get("x"),
            lambda: client.datasets.logs.create("d1", "in", retry=False),
        ):
            with pytest.raises(RespanError) as caught:
                call()
            errors.append(caught.value)
        assert KEY not in repr(client)
        assert KEY not in repr(vars(client))
    assert [type(e) for e in errors] == [APIConnectionError, AuthenticationError, APITimeoutError]
    for exc in errors:
        assert_no_key(exc)
    assert caplog.records, "expected debug records from the client"
    for record in caplog.records:
        assert KEY not in record.getMessage()
        assert KEY not in str(record.args)
        assert record.exc_text is None or KEY not in record.exc_text
    assert all(r.header("Authorization") == f"Bearer {KEY}" for r in server.requests)
