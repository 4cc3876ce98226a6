"""What the local server's connection and request handling share: limits, the key, the
API, and the live connections with their deadlines."""

from __future__ import annotations

import collections
import math
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from respan_otel.local._api import Api

REQUEST_SECONDS: Final = 30.0
"""A connection must send a whole request (headers and body) within this many seconds of
the previous answer (or of connecting), else it is closed: a keep-alive connection idle
that long, and a client trickling a request byte by byte, both end here."""
DEFAULT_MAX_CONNECTIONS: Final = 64
"""Open connections at once; one more is answered 503 and closed at once."""


class RateLimiter:
    """A sliding-window limit of ``limit`` requests per ``window`` seconds, per key."""

    def __init__(
        self, limit: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._hits: dict[str, collections.deque[float]] = {}

    def acquire(self, key: str) -> int | None:
        """Record a request and return ``None``, or return the whole seconds (>= 1) until a
        slot frees when the window is full (the request is then not recorded)."""
        now = self._clock()
        with self._lock:
            hits = self._hits.setdefault(key, collections.deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) < self.limit:
                hits.append(now)
                return None
            return max(1, math.ceil(hits[0] + self.window - now))


@dataclass
class ServerState:
    """What request handlers need: the API, the key, the limits, the live connections.

    ``origin`` is the server's own ``http://host:port``, used for page links; a request's
    ``Host`` is used instead only when it is one of ``hosts`` (names this server answers
    to), so a forged ``Host`` cannot point links elsewhere.
    """

    api: Api
    api_key: str
    max_body_bytes: int
    limiter: RateLimiter | None
    origin: str = ""
    hosts: frozenset[str] = frozenset()
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    request_seconds: float = REQUEST_SECONDS
    connections: set[socket.socket] = field(default_factory=set)
    threads: set[threading.Thread] = field(default_factory=set)
    # connection -> monotonic time by which its current request must be read, or absent
    # while a request is being answered
    deadlines: dict[socket.socket, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def origin_for(self, host: str | None) -> str:
        """The origin for links in an answer to a request that sent ``Host: host``."""
        if host is not None and host.strip().lower() in self.hosts:
            return f"http://{host.strip().lower()}"
        return self.origin
