"""One bulk request at a time, with an outcome for every log in it.

:class:`BulkSender` never retries and never sleeps: it sends, reads the answer and says,
per log, *accepted*, *refused* (for good, with the reason) or *retry later* (with how long
the server asked to wait). Deciding when to retry belongs to the caller, which also
grants the pacing slots (a 413 split needs more than one request).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from respan_otel._export._encode import request_body
from respan_otel.client._errors import (
    APIConnectionError,
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RespanError,
)
from respan_otel.client._transport import HTTPTransport

MAX_RETRY_AFTER_SECONDS: Final = 300.0
"""The longest wait a ``Retry-After`` / ``retry_after`` is honoured for. Values beyond it,
and nonsense (negative, not a number, overflowing, a far-future date), count as this."""

MIN_REQUEST_SECONDS: Final = 1.0
"""The least time a request gets once started (or its own timeout, if shorter), even past
the deadline; it starts only with a quarter of that left."""
_RETRY_STATUSES: Final = frozenset({408, 425, 429})

HINTS: Final[dict[type[RespanError], str]] = {
    AuthenticationError: "check RESPAN_API_KEY",
    PermissionDeniedError: "the API key may not write to this dataset; check RESPAN_API_KEY "
    "and the dataset's organization",
    NotFoundError: "no such dataset: check RESPAN_DATASET_ID or the call site's dataset=",
}


@dataclass
class SendResult:
    """Per-log outcomes of one send, by index into the logs given."""

    accepted: list[int] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)
    """Index -> why the API refused it for good (with the fix, when there is one)."""
    retry: list[int] = field(default_factory=list)
    wait: float = 0.0
    """Seconds the server asked to wait before the ``retry`` logs go again (0: not said)."""
    cause: str = ""
    """Why the ``retry`` logs were not delivered."""
    rate_limited: bool = False
    server_failed: bool = False
    """The server answered with a failure (5xx, 408): counts as a try of a spooled batch."""
    requests: int = 0
    tried: bool = True
    """False when nothing was sent (no time left): not a failure of the backend."""

    def merge(self, other: SendResult, offset: int) -> None:
        self.accepted += [i + offset for i in other.accepted]
        self.refused.update({i + offset: why for i, why in other.refused.items()})
        self.retry += [i + offset for i in other.retry]
        self.wait = max(self.wait, other.wait)
        self.cause = self.cause or other.cause
        self.rate_limited = self.rate_limited or other.rate_limited
        self.server_failed = self.server_failed or other.server_failed
        self.requests += other.requests


def server_wait(exc: RespanError) -> float | None:
    """Seconds the server asked to wait, capped; ``None`` when it asked nothing."""
    raw = exc.body.get("retry_after") if isinstance(exc.body, dict) else None
    if raw is not None:
        try:
            seconds = float(raw)
        except (TypeError, ValueError, OverflowError):
            return MAX_RETRY_AFTER_SECONDS
        if not math.isfinite(seconds) or seconds < 0:
            return MAX_RETRY_AFTER_SECONDS
    wait = exc.retry_after
    if wait is None:
        return None
    if not math.isfinite(wait) or wait < 0:
        return MAX_RETRY_AFTER_SECONDS
    return min(wait, MAX_RETRY_AFTER_SECONDS)


class BulkSender:
    """Sends encoded logs to ``POST /api/datasets/{id}/logs/bulk/``.

    ``http`` is the client's transport (``RespanClient(...)._http``); ``request_timeout``
    bounds one request, and never runs past the ``deadline`` given to :meth:`send`.
    """

    def __init__(self, http: HTTPTransport, *, request_timeout: float) -> None:
        self.http = http
        self.request_timeout = request_timeout

    def _least(self) -> float:
        return min(self.request_timeout, MIN_REQUEST_SECONDS)

    def has_time(self, deadline: float) -> bool:
        """Whether a request may start now: a quarter of its least time is left."""
        return deadline - time.monotonic() >= self._least() / 4

    def send(
        self,
        dataset_id: str,
        logs: Sequence[bytes],
        *,
        deadline: float,
        next_slot: Callable[[], bool] = lambda: True,
        bounded: bool = True,
    ) -> SendResult:
        """Send ``logs`` (one request, more if a 413 asks to split) by ``deadline``.

        The caller has granted the first request's slot; ``next_slot`` grants each
        further one (``False``: none before the deadline, so those logs are retried).
        Without ``bounded``, the deadline only says when a request may start: once
        started it gets its whole timeout (a worker's own rounds, where a reply cut short
        would only come back as a duplicate).
        """
        result = SendResult()
        remaining = deadline - time.monotonic()
        if not self.has_time(deadline):
            # a request cut short may still be stored: sent again later, it would be a
            # duplicate, so none starts without the time to hear its answer
            untried = self._all_retry(len(logs), "too little time left before the deadline")
            untried.tried = False
            return untried
        result.requests = 1
        try:
            reply = self.http.request(
                "POST",
                f"/api/datasets/{dataset_id}/logs/bulk/",
                content=request_body(logs),
                idempotent=False,
                retry=False,
                # a request cut short may be stored all the same, and then sent again:
                # once started, it gets at least MIN_REQUEST_SECONDS (or its own timeout)
                timeout=max(min(self.request_timeout, remaining), self._least())
                if bounded
                else self.request_timeout,
            )
        except RespanError as exc:
            status = exc.status_code
            if status is not None and 200 <= status < 300:
                result.accepted = list(range(len(logs)))  # stored; the reply was just odd
            elif status == 413:
                return self._split(dataset_id, logs, deadline, next_slot, bounded)
            elif isinstance(exc, APIConnectionError) and _untrusted(exc):
                why = f"{exc} (the server's certificate is not trusted: fix RESPAN_BASE_URL or "
                why += "the CA bundle, REQUESTS_CA_BUNDLE)"
                result.refused = dict.fromkeys(range(len(logs)), why)
            elif (
                isinstance(exc, APIConnectionError)
                or status in _RETRY_STATUSES
                or (status is not None and status >= 500)
            ):
                result.retry = list(range(len(logs)))
                result.wait = server_wait(exc) or 0.0
                result.cause = str(exc)
                result.rate_limited = isinstance(exc, RateLimitError)
                result.server_failed = status is not None and not result.rate_limited
            else:
                hint = next((text for kind, text in HINTS.items() if isinstance(exc, kind)), "")
                why = f"{exc} ({hint})" if hint else str(exc)
                result.refused = dict.fromkeys(range(len(logs)), why)
            return result
        refused = self._item_errors(reply, len(logs))
        result.refused = refused
        result.accepted = [i for i in range(len(logs)) if i not in refused]
        return result

    def _split(
        self,
        dataset_id: str,
        logs: Sequence[bytes],
        deadline: float,
        next_slot: Callable[[], bool],
        bounded: bool,
    ) -> SendResult:
        """413: send the halves; a single log the server will not take is refused."""
        result = SendResult(requests=1)
        if len(logs) == 1:
            result.refused = {0: "the server refused the log as too large (413)"}
            return result
        middle = len(logs) // 2
        for offset, half in ((0, logs[:middle]), (middle, logs[middle:])):
            if next_slot():
                part = self.send(
                    dataset_id, half, deadline=deadline, next_slot=next_slot, bounded=bounded
                )
            else:
                part = self._all_retry(len(half), "no request slot before the export deadline")
            result.merge(part, offset)
        return result

    def _item_errors(self, reply: Any, count: int) -> dict[int, str]:
        """Per-item errors of a 2xx reply, by valid index (others cannot be placed)."""
        errors = reply.get("errors") if isinstance(reply, dict) else None
        refused: dict[int, str] = {}
        if not isinstance(errors, list):
            return refused
        for error in errors:
            if not isinstance(error, dict):
                continue
            index = error.get("index")
            if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < count:
                message = self.http.scrub(str(error.get("error", "refused")))[:500]
                refused.setdefault(index, f"refused by the API: {message}")
        return refused

    @staticmethod
    def _all_retry(count: int, cause: str) -> SendResult:
        return SendResult(retry=list(range(count)), cause=cause)


def _untrusted(exc: RespanError) -> bool:
    """A TLS verification failure: a configuration to fix, not an outage to wait out."""
    return "certificate verify failed" in (exc.detail or str(exc)).lower()
