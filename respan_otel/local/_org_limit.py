"""Respan's organisation-wide rate limit, emulated by the local server.

Respan allows a number of requests a minute per *organisation*, shared by every key and
every process that uses them. :class:`OrgRateLimiter` keeps one sliding window for all
callers, whatever key they present, and counts what it let through and refused, so a
fleet of processes can be measured against the same budget the real API enforces
(``respan-otel serve --org-rate-limit-per-minute 30``).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from respan_otel.local._server import RateLimiter

_ORG = "organization"


class OrgRateLimiter(RateLimiter):
    """At most ``limit`` requests per ``window`` seconds across all keys together."""

    def __init__(
        self, limit: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(limit, window, clock)
        self.allowed = 0
        self.refused = 0

    def acquire(self, key: str) -> int | None:
        """Like :meth:`RateLimiter.acquire`, against the organisation's one window."""
        wait = super().acquire(_ORG)
        with self._lock:
            if wait is None:
                self.allowed += 1
            else:
                self.refused += 1
        return wait
