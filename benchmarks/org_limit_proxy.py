"""A proxy in front of the local server that enforces Respan's org-wide limit and measures.

Respan allows 30 bulk requests a minute per organization, whatever key sends them. This
proxy accepts any of the org's keys, lets at most ``limit`` bulk requests through in any
``window`` seconds (answering 429 with ``Retry-After`` beyond), forwards the rest to a
:class:`respan_otel.local.LocalRespan` with its key, and records each accepted request:
when it arrived, how many logs it held, and each log's end-to-end latency (arrival time
minus the ``sent`` wall-clock time the benchmark's apps put in every row's input).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests


@dataclass
class Record:
    accepted: list[tuple[float, int]] = field(default_factory=list)  # (wall time, logs)
    latencies: list[float] = field(default_factory=list)
    rejected: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class OrgLimitProxy:
    def __init__(
        self, upstream: str, upstream_key: str, keys: set[str], *, limit: int, window: float
    ) -> None:
        self.upstream, self.upstream_key, self.keys = upstream, upstream_key, keys
        self.limit, self.window = limit, window
        self.record = Record()
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()
        self._session = requests.Session()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                proxy.forward(self, b"")

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                proxy.forward(self, body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _admit(self) -> float:
        """0 when a bulk request may pass now (and count it), else seconds to wait."""
        now = time.monotonic()
        with self._lock:
            while self._sent and now - self._sent[0] >= self.window:
                self._sent.popleft()
            if len(self._sent) >= self.limit:
                return self._sent[0] + self.window - now
            self._sent.append(now)
            return 0.0

    def forward(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        auth = handler.headers.get("authorization", "")
        if auth.removeprefix("Bearer ") not in self.keys:
            _reply(handler, 401, {"detail": "invalid key"})
            return
        bulk = handler.command == "POST" and handler.path.endswith("/logs/bulk/")
        if bulk:
            wait = self._admit()
            if wait > 0:
                with self.record.lock:
                    self.record.rejected += 1
                seconds = max(1, math.ceil(wait))
                _reply(
                    handler,
                    429,
                    {"detail": "org rate limit", "retry_after": seconds},
                    {"Retry-After": str(seconds)},
                )
                return
        reply = self._session.request(
            handler.command,
            self.upstream + handler.path,
            data=body or None,
            headers={
                "authorization": f"Bearer {self.upstream_key}",
                "content-type": "application/json",
            },
            timeout=60,
        )
        if bulk and reply.status_code < 300:
            arrived = time.time()
            logs = json.loads(body)["logs"]
            with self.record.lock:
                self.record.accepted.append((arrived, len(logs)))
                self.record.latencies.extend(
                    arrived - log["input"]["sent"]
                    for log in logs
                    if "sent" in (log.get("input") or {})
                )
        _reply(handler, reply.status_code, reply.content, {"content-type": "application/json"})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _reply(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: Any,
    headers: dict[str, str] | None = None,
) -> None:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    handler.send_response(status)
    for name, value in {"content-type": "application/json", **(headers or {})}.items():
        handler.send_header(name, value)
    handler.send_header("content-length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
