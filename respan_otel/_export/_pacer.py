"""Client-side pacing of requests, adapting to a budget shared with other processes.

Respan allows 30 bulk requests a minute per organisation, shared by all of its keys and
processes. One process alone paces itself to the limit and never draws a 429. When
several share the budget, the server's 429s say so: the pacer halves its own rate (at most
once a window: the server's verdict on a rate takes a window to come) and waits what the
server asked, then climbs back half a request a minute per success (AIMD), so a fleet
converges on its share instead of fighting over it.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Final

WINDOW_SECONDS: Final = 60.0
MARGIN_SECONDS: Final = 0.25
"""Slack added to every window: the pacer stamps a request when it leaves, the server
when it arrives, so without it a slow connect could land one request too many in the
server's window."""
RECOVERY_PER_SUCCESS: Final = 0.5
"""Requests a minute added back after each success (so 30 successes undo two halvings)."""
MIN_RATE: Final = 0.2
"""Requests a minute a pacer never adapts below (one every 5 minutes)."""


class RequestPacer:
    """At most ``requests_per_minute`` (a fraction is fine; 0 means no client-side pacing)
    in any sliding window, lowered by 429s and raised again by successes. Waits end
    early when ``stop`` is set. Thread-safe."""

    def __init__(
        self,
        requests_per_minute: float,
        *,
        window: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not requests_per_minute >= 0 or not math.isfinite(requests_per_minute):
            raise ValueError(f"requests_per_minute={requests_per_minute!r} must be >= 0")
        self.limit = float(requests_per_minute)
        self.rate = self.limit
        self._window = window
        self._clock = clock
        self._sent: deque[float] = deque()
        self._blocked_until = 0.0
        self._cut_at = -math.inf
        """When the rate was last halved."""
        self._lock = threading.Lock()
        self.on_sent: Callable[[], None] | None = None
        """Called (on the sending thread) each time a paced request takes its slot."""

    def _shape(self) -> tuple[int, float]:
        """(requests, seconds): the sliding window the current rate allows."""
        count = max(1, math.floor(self.rate))
        return count, count * self._window / self.rate + MARGIN_SECONDS

    def wait_time(self, now: float | None = None) -> float:
        """Seconds until a request may be sent (0 when it may go now)."""
        now = self._clock() if now is None else now
        with self._lock:
            blocked = max(0.0, self._blocked_until - now)
            if self.limit <= 0:
                return blocked
            count, span = self._shape()
            while self._sent and now - self._sent[0] >= span:
                self._sent.popleft()
            if len(self._sent) < count:
                return blocked
            return max(blocked, self._sent[-count] + span - now)

    def acquire(self, *, deadline: float, stop: threading.Event) -> bool:
        """Wait for a slot and take it; ``False`` if ``deadline`` or ``stop`` comes first."""
        while True:
            delay = self.wait_time()
            if delay <= 0:
                with self._lock:
                    if self.limit > 0:
                        self._sent.append(self._clock())
                if self.limit > 0 and self.on_sent is not None:
                    self.on_sent()
                return True
            if self._clock() + delay > deadline or stop.wait(delay):
                return False

    def seed(self, ages: Iterable[float]) -> None:
        """Count requests sent ``ages`` seconds ago by an earlier run (a restart), so it
        does not spend again the part of the window they took."""
        now = self._clock()
        with self._lock:
            self._sent = deque(sorted([*self._sent, *(now - age for age in ages if age >= 0)]))

    def give_back(self) -> None:
        """The slot last taken was not used."""
        with self._lock:
            if self._sent:
                self._sent.pop()

    def rate_limited(self, retry_after: float) -> None:
        """A 429: send nothing for ``retry_after`` seconds, and halve the rate unless it
        was halved less than a window ago."""
        now = self._clock()
        with self._lock:
            self._blocked_until = max(self._blocked_until, now + retry_after)
            # a full window frees its slots one by one, and each try between them draws a
            # 429: they all say the same thing, so only the first of a window counts
            if self.limit > 0 and now - self._cut_at >= self._window:
                self.rate = max(min(MIN_RATE, self.limit), self.rate / 2)
                self._cut_at = now

    def succeeded(self) -> None:
        """A request went through: climb back towards the limit."""
        if self.limit <= 0 or self.rate >= self.limit:
            return
        with self._lock:
            self.rate = min(self.limit, self.rate + RECOVERY_PER_SUCCESS)
