"""``RespanClient``: the Respan datasets and experiments API over HTTP.

::

    from respan_otel import RespanClient

    with RespanClient() as client:  # RESPAN_API_KEY, RESPAN_BASE_URL from the environment
        ds = client.datasets.get_or_create("support-evals")
        client.datasets.logs.create(ds.id, {"question": "hi"}, {"answer": "hello"})
        for log in client.datasets.logs.iter(ds.id, filters={"metadata__model": {
                "operator": "eq", "value": ["gpt-4o"]}}):
            print(log.input, log.output)

The transport (pooling, auth, retries, errors) is in :mod:`respan_otel.client._transport`, result
types in :mod:`respan_otel.client._types`, exceptions in :mod:`respan_otel.client._errors`.

Retries: reads and idempotent writes (GET, PUT, PATCH, DELETE and the POST ``.../list/``
endpoints) are retried on 408, 429, 5xx, connection errors and timeouts, up to
``max_retries`` times, with exponential backoff and jitter that never waits less than the
server's ``retry_after`` / ``Retry-After`` and never more than 60 s per wait (a server
asking for more than that gets the error raised at once). Creating POSTs (dataset, log,
bulk, experiment) are not retried, since a lost reply would mean a duplicate, unless the
call passes ``retry=True`` or the client was built with ``retry_creates=True``.

Thread safety: one client may be shared by any number of threads; calls are independent
and draw connections from one pool. After ``os.fork()`` the child gets a fresh pool.
"""

from __future__ import annotations

import math
import os
from types import TracebackType

from respan_otel._settings import DEFAULT_BASE_URL, ENV_API_KEY, ENV_BASE_URL
from respan_otel.client._datasets_api import Datasets
from respan_otel.client._errors import RespanError
from respan_otel.client._experiments_api import Experiments
from respan_otel.client._resource import BULK_MAX_LOGS, MAX_PAGE_SIZE
from respan_otel.client._transport import (
    DEFAULT_BACKOFF_BASE,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    MAX_RETRY_WAIT,
    HTTPTransport,
    normalize_base_url,
)

__all__ = ["BULK_MAX_LOGS", "MAX_PAGE_SIZE", "RespanClient"]


class RespanClient:
    """Client for the Respan datasets and experiments API.

    ``api_key`` falls back to ``RESPAN_API_KEY`` and is required. ``base_url`` falls
    back to ``RESPAN_BASE_URL``, then ``https://api.respan.ai``; it is accepted with or
    without a trailing ``/api`` or slash. ``timeout`` (seconds, per connect and per read)
    and ``max_retries`` apply to every call; see the module docstring for which calls are
    retried. ``retry_creates=True`` retries creating POSTs too (risking duplicates when a
    reply is lost). ``verify`` is passed to requests (a CA bundle path, or ``False`` to
    turn TLS verification off). Plain ``http://`` is accepted for loopback hosts only,
    unless ``allow_insecure_http=True``.

    ``_backoff_base`` (default 0.5 s) and ``_max_retry_wait`` (default 60 s) tune the
    retry waits; they exist for tests and are not a stable interface.

    Use as a context manager, or call :meth:`close`, to release pooled connections.
    """

    datasets: Datasets
    experiments: Experiments

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        retry_creates: bool = False,
        verify: bool | str = True,
        allow_insecure_http: bool = False,
        _backoff_base: float = DEFAULT_BACKOFF_BASE,
        _max_retry_wait: float = MAX_RETRY_WAIT,
    ) -> None:
        key = api_key if api_key is not None else os.environ.get(ENV_API_KEY)
        if not isinstance(key, str) or not key.strip():
            raise RespanError(
                f"no Respan API key: pass api_key= or set the {ENV_API_KEY} environment variable"
            )
        key = key.strip()
        if any(ch.isspace() for ch in key) or not key.isprintable():
            raise ValueError("api_key must not contain whitespace or control characters")
        url = base_url if base_url is not None else os.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL
        try:
            root = normalize_base_url(url, allow_insecure_http=allow_insecure_http)
        except ValueError as exc:
            source = "base_url" if base_url is not None else f"base_url (from {ENV_BASE_URL})"
            message = str(exc)
            if base_url is None and message.startswith("base_url"):
                message = source + message[len("base_url") :]
            raise ValueError(message) from None
        _positive("timeout", timeout)
        _positive("_backoff_base", _backoff_base)
        _positive("_max_retry_wait", _max_retry_wait)
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(f"max_retries must be an integer >= 0, got {max_retries!r}")
        if not isinstance(verify, (bool, str)):
            raise ValueError("verify must be True, False or a path to a CA bundle")
        self._http = HTTPTransport(
            api_key=key,
            base_url=root,
            timeout=float(timeout),
            max_retries=max_retries,
            retry_creates=bool(retry_creates),
            verify=verify,
            backoff_base=float(_backoff_base),
            max_retry_wait=float(_max_retry_wait),
        )
        self.datasets = Datasets(self._http)
        self.experiments = Experiments(self._http)

    @property
    def base_url(self) -> str:
        """The API root in use, without ``/api`` (paths are ``/api/...`` under it)."""
        return self._http.root_url

    @property
    def timeout(self) -> float:
        """Seconds allowed to connect, and then for each read."""
        return self._http.timeout

    @property
    def max_retries(self) -> int:
        """Retries after the first attempt, for calls that may be retried."""
        return self._http.max_retries

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._http.closed

    def close(self) -> None:
        """Release the pooled connections. Idempotent; later calls raise ``RuntimeError``."""
        self._http.close()

    def __enter__(self) -> RespanClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RespanClient(base_url={self.base_url!r})"


def _positive(name: str, value: object) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{name} must be a number of seconds > 0, got {value!r}")
