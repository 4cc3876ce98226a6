"""Client-side pacing: at most N requests in any sliding window of one minute.

Respan allows 30 bulk requests per minute per organisation. Pacing in the process means
the exporter never needs a 429 to learn the limit: with 500 logs per request that is
250 logs/s, reached without a single rejection.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Final

WINDOW_SECONDS: Final = 60.0
MARGIN_SECONDS: Final = 0.25
"""Slack added to every window: the pacer stamps a request when it leaves, the server
when it arrives, so without it a slow connect could land one request too many in the
server's window."""


class RequestPacer:
    """A sliding-window limiter whose waits end early when ``stop`` is set."""

    def __init__(self, requests_per_minute: int, *, window: float = WINDOW_SECONDS) -> None:
        self.limit = requests_per_minute
        self.window = window + MARGIN_SECONDS
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()

    def wait_time(self, now: float | None = None) -> float:
        """Seconds until a request may be sent (0 when it may go now)."""
        if self.limit <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        with self._lock:
            while self._sent and now - self._sent[0] >= self.window:
                self._sent.popleft()
            if len(self._sent) < self.limit:
                return 0.0
            return self._sent[0] + self.window - now

    def acquire(self, *, deadline: float, stop: threading.Event) -> bool:
        """Wait for a slot and take it; ``False`` if the deadline or ``stop`` comes first."""
        if self.limit <= 0:
            return True  # no pacing: nothing to remember
        while True:
            delay = self.wait_time()
            if delay <= 0:
                with self._lock:
                    self._sent.append(time.monotonic())
                return True
            if time.monotonic() + delay > deadline or stop.wait(delay):
                return False

    def note_rate_limited(self, retry_after: float) -> None:
        """The server said 429: treat the window as full until ``retry_after`` passes."""
        if self.limit <= 0:
            return
        now = time.monotonic()
        with self._lock:
            start = now + retry_after - self.window
            self._sent = deque([start] * self.limit)
