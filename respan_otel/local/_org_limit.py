"""Respan's organisation-wide rate limit, emulated (and metered) by the local server.

Respan allows 30 bulk log requests a minute per *organisation*, shared by every key and
every process that uses them. In that mode (``LocalRespan(org_rate_limit_per_minute=30)``,
``respan-otel serve --org-rate-limit-per-minute 30``) :class:`OrgLimitedApi` keeps one
sliding window for every bulk request, whatever key it presents (other endpoints are not
counted, as Respan limits them separately), answers 429 with ``Retry-After`` beyond it, and
records what it let through, so a fleet of processes can be measured against the budget
the real API enforces: :attr:`OrgRateLimiter.accepted` holds one :class:`AcceptedBulk` per
bulk request stored (when, how many logs, how old each log was).
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from json import dumps, loads
from typing import Final

from respan_otel.local._api import Api, Request, Response
from respan_otel.local._server_state import RateLimiter
from respan_otel.local._store import Store

_ORG: Final = "organization"
_BULK: Final = re.compile(r"^/api/datasets/[^/]+/logs/bulk/?$")


@dataclass(frozen=True)
class AcceptedBulk:
    """One bulk request the org budget let through and the server stored."""

    at: float
    """Wall-clock time (``time.time()``) it was answered."""
    logs: int
    """Logs stored from it."""
    ages: tuple[float, ...]
    """For each log with a ``timestamp``, seconds from that timestamp to ``at``."""


class OrgRateLimiter(RateLimiter):
    """At most ``limit`` requests per ``window`` seconds across all keys together."""

    def __init__(
        self, limit: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(limit, window, clock)
        self.allowed = 0
        """Requests let through."""
        self.refused = 0
        """Requests answered 429."""
        self.accepted: list[AcceptedBulk] = []
        """Bulk requests let through and stored, in the order they were answered."""

    def acquire(self, key: str) -> int | None:
        """Like :meth:`RateLimiter.acquire`, against the organisation's one window."""
        wait = super().acquire(_ORG)
        with self._lock:
            if wait is None:
                self.allowed += 1
            else:
                self.refused += 1
        return wait

    def record(self, entry: AcceptedBulk) -> None:
        with self._lock:
            self.accepted.append(entry)


class OrgLimitedApi(Api):
    """The API with bulk log requests held to the organisation's one budget."""

    def __init__(self, store: Store, limiter: OrgRateLimiter) -> None:
        super().__init__(store)
        self.limiter = limiter

    def handle(self, request: Request) -> Response:
        if request.method != "POST" or not _BULK.match(request.path):
            return super().handle(request)
        wait = self.limiter.acquire(_ORG)
        if wait is not None:
            body = {"detail": "Rate limit exceeded", "retry_after": wait}
            return Response(429, dumps(body).encode(), headers={"Retry-After": str(wait)})
        response = super().handle(request)
        if response.status == 201:
            at = time.time()
            logs = request.json()
            items = logs.get("logs") if isinstance(logs, dict) else None
            stamps = [item.get("timestamp") for item in items or () if isinstance(item, dict)]
            epochs = [_epoch(stamp) for stamp in stamps if isinstance(stamp, str)]
            ages = tuple(at - epoch for epoch in epochs if epoch is not None)
            stored = _success_count(response.body)
            self.limiter.record(AcceptedBulk(at, stored, ages))
        return response


def _epoch(stamp: str) -> float | None:
    try:  # 3.10's fromisoformat does not read a trailing Z
        return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _success_count(body: bytes) -> int:
    count = loads(body).get("success_count", 0)
    return int(count) if isinstance(count, int) else 0
