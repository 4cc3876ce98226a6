"""HTTP transport of :class:`~respan_otel.RespanClient`: one pooled session, retries, errors.

Kept apart from the resource classes so that what touches the network, and so the API
key, is in one place. The key lives in a :class:`requests.auth.AuthBase` object applied
per request (so ``~/.netrc`` cannot override it and the session's headers never hold it),
redirects are not followed (a redirect to another host must not receive the key), and
transport exceptions are converted without chaining, because a ``requests`` exception
keeps the prepared request, ``Authorization`` header included.
"""

from __future__ import annotations

import email.utils
import ipaddress
import json
import math
import os
import random
import re
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any, Final
from urllib.parse import urlsplit

import requests
import requests.adapters
import requests.auth
import urllib3.exceptions

from respan_otel._log import logger
from respan_otel._version import __version__
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
    format_detail,
)

DEFAULT_TIMEOUT: Final = 30.0
"""Seconds to wait for a connection and then for each read of a response."""
DEFAULT_MAX_RETRIES: Final = 2
"""Retries after the first attempt, for requests that may be retried."""
DEFAULT_BACKOFF_BASE: Final = 0.5
"""First retry waits 0.25-0.5 s, then 0.5-1 s, 1-2 s... (equal jitter)."""
MAX_RETRY_WAIT: Final = 60.0
"""No single wait between attempts is longer. A server asking for longer is not retried."""
POOL_MAXSIZE: Final = 32
"""Connections kept per host: enough for a few dozen threads sharing one client."""
USER_AGENT: Final = f"respan-otel/{__version__}"

_RETRY_STATUSES: Final = frozenset({408, 429})
_EXCERPT_CHARS: Final = 200
_LOOPBACK_NAMES: Final = frozenset({"localhost", "localhost.", "ip6-localhost"})
_OBJECT_AT = re.compile(r"<[\w.]+ object at 0x[0-9a-fA-F]+>:?\s*")
_POOL_PREFIX = re.compile(r"\w*ConnectionPool\([^)]*\):\s*")

_live: weakref.WeakSet[HTTPTransport] = weakref.WeakSet()
_live_lock = threading.Lock()


def _after_fork_in_child() -> None:
    """Give every live transport a fresh session: pooled sockets belong to the parent.

    The registry lock is replaced first, since another parent thread may have held it
    at the moment of the fork.
    """
    global _live_lock
    _live_lock = threading.Lock()
    for transport in list(_live):
        transport._reset_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class _BearerAuth(requests.auth.AuthBase):
    """Sets ``Authorization: Bearer <key>``; its repr never shows the key."""

    __slots__ = ("_key",)

    def __init__(self, key: str) -> None:
        self._key = key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._key}"
        return request

    def __repr__(self) -> str:
        return "<BearerAuth ***>"


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` names this machine (``localhost``, ``127.0.0.0/8``, ``::1``)."""
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    # ::ffff:127.0.0.1 counts as loopback on Python 3.13 only; on every version it is
    # refused, like any unusual spelling of a host the key would travel to in clear text
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback and mapped is None


def normalize_base_url(url: str, *, allow_insecure_http: bool = False) -> str:
    """Validate a base URL and return its root, without a trailing ``/api`` or slash.

    ``https://api.respan.ai``, ``https://api.respan.ai/`` and ``https://api.respan.ai/api/``
    all give ``https://api.respan.ai``. Plain ``http://`` is refused for hosts other than
    loopback unless ``allow_insecure_http`` is true: the key would cross the network in
    clear text.
    """
    if not isinstance(url, str) or not url.strip():
        raise ValueError("base_url must be a non-empty http:// or https:// URL")
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"base_url must start with http:// or https://, not {scheme or 'nothing'}")
    try:
        host = parts.hostname
        port = parts.port
    except ValueError:
        raise ValueError("base_url has an invalid host or port") from None
    if not host:
        raise ValueError("base_url has no host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("base_url must not contain credentials; pass the key as api_key")
    if parts.query or parts.fragment:
        raise ValueError("base_url must not have a query or fragment")
    if scheme == "http" and not allow_insecure_http and not is_loopback_host(host):
        raise ValueError(
            f"base_url uses plain http:// to {host}, which would send the API key unencrypted; "
            "use https://, or pass allow_insecure_http=True if you mean it"
        )
    path = parts.path.rstrip("/")
    if path.endswith("/api"):
        path = path[: -len("/api")]
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc = f"{netloc}:{port}"
    return f"{scheme}://{netloc}{path}"


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header: delta-seconds or an HTTP-date; else ``None``."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        current = time.time() if now is None else now
        seconds = when.timestamp() - current
        return max(0.0, seconds)
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        return None
    return max(0.0, seconds)


def retry_delay(
    attempt: int,
    *,
    base: float,
    cap: float,
    retry_after: float | None,
    rand: Callable[[], float] = random.random,
) -> float | None:
    """Seconds to wait before retry number ``attempt`` (0 for the first), or ``None``.

    Exponential backoff with equal jitter (between half and all of ``base * 2**attempt``,
    at most ``cap``), raised to ``retry_after`` when the server asked for a wait: jitter
    never shortens what the server asked. ``None`` means the server asked for more than
    ``cap``, so the caller should give up rather than wait that long or retry early.
    """
    backoff = min(cap, base * (2.0**attempt))
    delay = backoff / 2 + rand() * backoff / 2
    if retry_after is not None:
        if retry_after > cap:
            return None
        delay = max(delay, retry_after)
    return delay


def _excerpt(text: str, limit: int = _EXCERPT_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _describe_transport_error(exc: BaseException) -> str:
    """A short reason for a transport failure, without object addresses or headers."""
    reason: object = exc
    for _ in range(5):
        if isinstance(reason, urllib3.exceptions.MaxRetryError) and reason.reason is not None:
            reason = reason.reason
        elif isinstance(reason, requests.RequestException) and reason.args:
            reason = reason.args[0]
        elif isinstance(reason, urllib3.exceptions.ProtocolError) and len(reason.args) > 1:
            reason = reason.args[1]
        else:
            break
    text = str(reason) or type(reason).__name__
    return _excerpt(_POOL_PREFIX.sub("", _OBJECT_AT.sub("", text)))


def _is_timeout(exc: requests.RequestException) -> bool:
    if isinstance(exc, requests.Timeout):
        return True
    cause = exc.args[0] if exc.args else None
    return isinstance(cause, (urllib3.exceptions.ReadTimeoutError, TimeoutError))


class HTTPTransport:
    """Sends JSON requests to the Respan API with auth, retries and typed errors.

    Thread safety: one transport may be used by many threads at once. Each call prepares
    its own request; the shared :class:`requests.Session` is only used to send, and its
    urllib3 pool hands each thread its own connection (up to :data:`POOL_MAXSIZE` kept).
    """

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        timeout: float,
        max_retries: int,
        retry_creates: bool,
        verify: bool | str,
        backoff_base: float,
        max_retry_wait: float,
    ) -> None:
        self._auth = _BearerAuth(api_key)
        self._key = api_key
        self.root_url = base_url
        self.timeout = timeout
        self.max_retries = max_retries
        self.retry_creates = retry_creates
        self.verify = verify
        self.backoff_base = backoff_base
        self.max_retry_wait = max_retry_wait
        self._lock = threading.Lock()
        self._closed = False
        self._fork_callbacks: list[Callable[[], None]] = []
        self._session = self._new_session()
        with _live_lock:
            _live.add(self)

    def _new_session(self) -> requests.Session:
        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(
            pool_connections=4, pool_maxsize=POOL_MAXSIZE, max_retries=0
        )
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.verify = self.verify
        session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
        return session

    def on_fork(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` in a forked child, after the session is replaced.

        For locks of objects built on this transport: one held by another thread at the
        moment of the fork would otherwise stay held forever in the child.
        """
        self._fork_callbacks.append(callback)

    def _reset_after_fork(self) -> None:
        # The parent's pooled sockets must not be shared; drop them without closing,
        # since closing could disturb the parent's connections.
        self._lock = threading.Lock()
        if not self._closed:
            self._session = self._new_session()
        for callback in self._fork_callbacks:
            callback()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def close(self) -> None:
        """Close the pooled connections. Further requests raise ``RuntimeError``."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            session = self._session
        session.close()
        with _live_lock:
            _live.discard(self)

    def scrub(self, text: str) -> str:
        """``text`` with every occurrence of the API key masked."""
        return text.replace(self._key, "***") if self._key else text

    def scrub_value(self, value: Any) -> Any:
        """A decoded JSON value with the API key masked in every string in it."""
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, list):
            return [self.scrub_value(item) for item in value]
        if isinstance(value, dict):
            return {self.scrub(str(k)): self.scrub_value(v) for k, v in value.items()}
        return value

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        content: bytes | None = None,
        idempotent: bool,
        retry: bool | None = None,
        timeout: float | None = None,
        decode: Callable[[requests.Response], Any] | None = None,
    ) -> Any:
        """Send one API call and return its decoded JSON body (``None`` when empty).

        ``body`` is encoded as JSON; ``content`` is JSON already encoded (for callers
        that size their requests in bytes); give at most one. ``idempotent`` calls
        (reads, PUT, PATCH, DELETE, the list POSTs) are retried on 408/429/5xx and
        transport failures; others only when ``retry`` (or the client's
        ``retry_creates``) says so. ``timeout`` overrides the client's for this call.
        ``decode`` reads a successful response instead of the JSON decoding.
        """
        if self._closed:
            raise RuntimeError("RespanClient is closed")
        if body is not None and content is not None:
            raise ValueError("give body or content, not both")
        may_retry = retry if retry is not None else idempotent or self.retry_creates
        wait_limit = self.timeout if timeout is None else timeout
        if not wait_limit > 0:
            raise ValueError(f"timeout must be > 0, got {timeout!r}")
        url = self.root_url + path
        data = content if content is not None else None if body is None else _encode_json(body)
        headers = {"Content-Type": "application/json"} if data is not None else {}
        query = {k: v for k, v in (params or {}).items() if v is not None}

        attempt = 0
        while True:
            started = time.monotonic()
            failure: RespanError | None = None
            response: requests.Response | None = None
            try:
                response = self._session.request(
                    method,
                    url,
                    params=query or None,
                    data=data,
                    headers=headers,
                    auth=self._auth,
                    timeout=wait_limit,
                    allow_redirects=False,
                    # per request, so REQUESTS_CA_BUNDLE never overrides an explicit choice
                    verify=self.verify,
                    stream=True,
                )
                _read_body(response, until=started + wait_limit)
            except requests.RequestException as exc:
                if response is not None:
                    response.close()
                    response = None
                failure = self._transport_error(method, path, exc, wait_limit)
            # The exception is converted above and raised below, outside the handler, so
            # that no __context__ points back at the request (and its headers).
            elapsed = time.monotonic() - started
            if response is not None:
                logger.debug(
                    "respan_otel: %s %s -> %d (%.3f s)",
                    method,
                    path,
                    response.status_code,
                    elapsed,
                )
                if response.status_code < 300:
                    if decode is not None:
                        return decode(response)
                    return self._decode(method, path, response)
                failure = self._status_error(method, path, response)
                retryable = response.status_code in _RETRY_STATUSES or (response.status_code >= 500)
                response.close()
            else:
                assert failure is not None
                logger.debug("respan_otel: %s (%.3f s)", failure, elapsed)
                retryable = True
            if not (retryable and may_retry and attempt < self.max_retries):
                raise failure
            delay = retry_delay(
                attempt,
                base=self.backoff_base,
                cap=self.max_retry_wait,
                retry_after=failure.retry_after,
            )
            if delay is None:
                raise failure
            logger.info(
                "respan_otel: %s; retry %d of %d in %.2f s",
                failure,
                attempt + 1,
                self.max_retries,
                delay,
            )
            time.sleep(delay)
            attempt += 1

    def _transport_error(
        self, method: str, path: str, exc: requests.RequestException, timeout: float
    ) -> APIConnectionError:
        reason = self.scrub(_describe_transport_error(exc))
        if _is_timeout(exc):
            return APITimeoutError(
                f"{method} {path} -> timed out after {timeout:g} s ({reason})",
                method=method,
                path=path,
                detail=reason,
            )
        return APIConnectionError(
            f"{method} {path} -> connection failed: {reason}",
            method=method,
            path=path,
            detail=reason,
        )

    def _decode(self, method: str, path: str, response: requests.Response) -> Any:
        try:
            text = response.text
        except requests.RequestException as exc:
            failure: RespanError = self._transport_error(method, path, exc, self.timeout)
        else:
            if not text.strip():
                return None
            try:
                return json.loads(text)
            except ValueError:
                excerpt = _excerpt(self.scrub(text))
                failure = RespanError(
                    f"{method} {path} -> {response.status_code}: response is not JSON: {excerpt}",
                    method=method,
                    path=path,
                    status_code=response.status_code,
                    detail=excerpt,
                )
        raise failure

    def _status_error(self, method: str, path: str, response: requests.Response) -> RespanError:
        status = response.status_code
        try:
            text = response.text
        except requests.RequestException:
            text = ""
        body: Any = None
        try:
            body = json.loads(text) if text.strip() else None
        except ValueError:
            body = None
        body = self.scrub_value(body)
        detail_source: object = None
        errors: object = None
        body_retry_after: float | None = None
        if isinstance(body, Mapping):
            detail_source = body.get("detail", body.get("message", body.get("error")))
            errors = body.get("errors")
            if detail_source is None and errors is None:
                detail_source = self.scrub(json.dumps(body, ensure_ascii=False))
            raw_retry = body.get("retry_after")
            if isinstance(raw_retry, (int, float)) and not isinstance(raw_retry, bool):
                # an integer too large for a float means "a very long time", not a crash
                body_retry_after = max(0.0, float(raw_retry)) if raw_retry < 1e300 else math.inf
            elif isinstance(raw_retry, str):
                body_retry_after = parse_retry_after(raw_retry)
        elif body is not None:
            detail_source = self.scrub(json.dumps(body, ensure_ascii=False))
        elif text.strip():
            detail_source = _excerpt(self.scrub(text))
        detail = format_detail(detail_source, errors)
        detail = self.scrub(detail) if detail else None
        header_retry_after = parse_retry_after(response.headers.get("Retry-After"))
        waits = [w for w in (body_retry_after, header_retry_after) if w is not None]
        retry_after = max(waits) if waits else None

        if 300 <= status < 400:
            location = response.headers.get("Location", "")
            detail = f"unexpected redirect to {_excerpt(self.scrub(location))}"
        shown = detail or response.reason or "no detail"
        message = f"{method} {path} -> {status}: {shown}"
        common: dict[str, Any] = {
            "method": method,
            "path": path,
            "status_code": status,
            "detail": detail,
            "body": body,
            "retry_after": retry_after,
        }
        if status in (400, 422):
            return ValidationError(message, errors=_field_errors(errors), **common)
        cls: type[RespanError]
        if status == 401:
            cls = AuthenticationError
        elif status == 403:
            cls = PermissionDeniedError
        elif status == 404:
            cls = NotFoundError
        elif status == 429:
            cls = RateLimitError
        elif status >= 500:
            cls = ServerError
        else:
            cls = RespanError
        return cls(message, **common)


def _read_body(response: requests.Response, *, until: float) -> None:
    """Read the whole reply by ``until`` (a monotonic time), or raise ``ReadTimeout``.

    requests' own timeout bounds each read, not the reply: a server trickling one byte
    at a time could hold a caller for ever. Reading in single socket reads lets the
    total be checked between them.
    """
    raw = response.raw
    read1 = getattr(raw, "read1", None)
    if read1 is None:
        response.content  # noqa: B018  (an older urllib3: read it the ordinary way)
        return
    chunks: list[bytes] = []
    while True:
        if time.monotonic() > until:
            response.close()
            raise requests.exceptions.ReadTimeout("the reply did not complete in time")
        chunk = read1(65536, decode_content=True)
        if not chunk:
            break
        chunks.append(chunk)
    response._content = b"".join(chunks)
    response._content_consumed = True  # type: ignore[attr-defined]
    release = getattr(raw, "release_conn", None)
    if callable(release):
        release()  # fully read: the connection goes back to the pool for reuse


def _field_errors(errors: object) -> dict[str, Any]:
    """The server's field errors as a dict; bulk-style ``[{index, error}]`` keyed by index."""
    if isinstance(errors, Mapping):
        return {str(key): value for key, value in errors.items()}
    if isinstance(errors, list):
        out: dict[str, Any] = {}
        for position, item in enumerate(errors):
            if isinstance(item, Mapping) and "index" in item:
                out[str(item["index"])] = item.get("error")
            else:
                out[str(position)] = item
        return out
    return {}


def _encode_json(body: Any) -> bytes:
    try:
        return json.dumps(body, ensure_ascii=False, allow_nan=False, default=_json_default).encode()
    except (TypeError, ValueError) as exc:
        raise TypeError(f"request body is not JSON-serializable: {exc}") from None


def _json_default(value: object) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
            return value.isoformat() + "Z"
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serializable")
