"""Dataset names to ids, within the caller's deadline and pacing.

A call site may name its dataset (``@trace(dataset="qa")``) rather than give its id. The
name is looked up once (a filtered list request, or a short scan when the server refuses
the filter) and the dataset created when there is none; the answer is cached. Every
request takes a pacing slot and never runs past the deadline given.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any, Final

from respan_otel._datasets import dataset_id_of, is_dataset_id
from respan_otel._export._pacer import RequestPacer
from respan_otel._export._sender import HINTS, server_wait
from respan_otel.client._errors import (
    APIConnectionError,
    RateLimitError,
    RespanError,
    ServerError,
    ValidationError,
)
from respan_otel.client._transport import HTTPTransport

MAX_SCAN_PAGES: Final = 5
"""Pages of 100 datasets read when the server refuses a name filter, before creating."""
_PAGE_SIZE: Final = 100


class ResolveError(Exception):
    """The name could not be resolved now: ``retry`` (with ``wait``) or refused for good."""

    def __init__(
        self,
        cause: str,
        *,
        retry: bool,
        wait: float = 0.0,
        rate_limited: bool = False,
        invalid: bool = False,
    ) -> None:
        super().__init__(cause)
        self.retry = retry
        self.invalid = invalid
        self.wait = wait
        self.rate_limited = rate_limited


class DatasetResolver:
    """Turns a call site's ``dataset`` (an id, or a name) into a dataset id."""

    def __init__(self, http: HTTPTransport, *, pacer: RequestPacer, request_timeout: float) -> None:
        self.http = http
        self.pacer = pacer
        self.request_timeout = request_timeout
        self._ids: dict[str, str] = {}
        self._lock = threading.Lock()

    def cached(self, dataset: str) -> str | None:
        """The id of ``dataset`` when known without a request."""
        return dataset_id_of(dataset) if is_dataset_id(dataset) else self._ids.get(dataset)

    def resolve(self, dataset: str, *, deadline: float, stop: threading.Event) -> str:
        """The id of ``dataset``; raises :class:`ResolveError` when not now or never."""
        known = self.cached(dataset)
        if known is not None:
            return known
        with self._lock:  # one lookup (and one create) per name at a time
            known = self._ids.get(dataset)
            if known is None:
                known = self._ids[dataset] = self._lookup(dataset, deadline, stop)
            return known

    def _lookup(self, name: str, deadline: float, stop: threading.Event) -> str:
        body: dict[str, Any] = {"filters": {"name": {"operator": "eq", "value": [name]}}}
        try:
            found = self._find(name, body, 1, deadline, stop)
        except ResolveError as refused:
            if not refused.invalid:
                raise
            found = self._find(name, {}, MAX_SCAN_PAGES, deadline, stop)  # no name filter
        if found is not None:
            return found
        body = {"name": name, "is_empty": True}
        created = self._call("POST", "/api/datasets/", body, None, deadline, stop)
        if not isinstance(created, Mapping) or not isinstance(created.get("id"), str):
            raise ResolveError(f"creating dataset {name!r} gave no id", retry=True)
        return str(created["id"])

    def _find(
        self, name: str, body: dict[str, Any], pages: int, deadline: float, stop: threading.Event
    ) -> str | None:
        for page in range(1, pages + 1):
            params = {"page": page, "page_size": _PAGE_SIZE}
            answer = self._call("POST", "/api/datasets/list/", body, params, deadline, stop)
            items = answer.get("results") if isinstance(answer, Mapping) else None
            if not isinstance(items, list):
                return None
            for item in items:
                if isinstance(item, Mapping) and item.get("name") == name:
                    found = item.get("id")
                    if isinstance(found, str) and found:
                        return found
            if not (isinstance(answer, Mapping) and answer.get("next") and items):
                return None
        return None

    def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any],
        params: dict[str, Any] | None,
        deadline: float,
        stop: threading.Event,
    ) -> Any:
        if not self.pacer.acquire(deadline=deadline, stop=stop):
            raise ResolveError("no request slot before the export deadline", retry=True)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ResolveError("the export deadline passed", retry=True)
        try:
            return self.http.request(
                method,
                path,
                params=params,
                body=body,
                idempotent=False,
                retry=False,
                timeout=min(self.request_timeout, remaining),
            )
        except (RateLimitError, ServerError, APIConnectionError) as exc:
            wait = server_wait(exc) or 0.0
            limited = isinstance(exc, RateLimitError)
            raise ResolveError(str(exc), retry=True, wait=wait, rate_limited=limited) from None
        except ValidationError as exc:
            raise ResolveError(str(exc), retry=False, invalid=True) from None
        except RespanError as exc:
            if exc.status_code in (408, 425):
                raise ResolveError(str(exc), retry=True) from None
            hint = next((text for kind, text in HINTS.items() if isinstance(exc, kind)), "")
            raise ResolveError(f"{exc} ({hint})" if hint else str(exc), retry=False) from None
