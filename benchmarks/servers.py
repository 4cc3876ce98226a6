"""Backends for the delivery benchmarks, each run in its own process (a real backend is
another machine, so its work must not share the exporter's GIL).

- ``sink``: answers every request at once with an empty bulk success; counts requests
  and bytes. Stands for an infinitely fast API.
- ``local``: :class:`respan_otel.local.LocalRespan` (SQLite in memory) with a dataset made
  up front, optionally with the rate-limit emulation; it records when each request was
  let through and how many got 429.

Start one with :func:`start`; it prints ``{"base_url", "api_key", "dataset_id"}`` and
serves until its standard input closes, then prints its counters.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

HERE = Path(__file__).resolve().parent
DATASET_ID = "00000000-0000-4000-8000-000000000001"
API_KEY = "sk-bench"


class Backend:
    """A backend process: ``base_url``, ``api_key``, ``dataset_id``; :meth:`stop` returns
    its counters."""

    def __init__(self, kind: str, **options: Any) -> None:
        argument = json.dumps({"kind": kind, **options})
        self.process = subprocess.Popen(
            [sys.executable, str(HERE / "servers.py"), argument],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the {kind} backend did not start")
        info = json.loads(line)
        self.base_url: str = info["base_url"]
        self.api_key: str = info["api_key"]
        self.dataset_id: str = info["dataset_id"]

    def stop(self) -> dict[str, Any]:
        out, _ = self.process.communicate(timeout=60)
        return json.loads(out.strip().splitlines()[-1])


def start(kind: str, **options: Any) -> Backend:
    return Backend(kind, **options)


# -- inside the backend process ----------------------------------------------------------------


class _Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    counts: ClassVar[dict[str, int]] = {"requests": 0, "bytes": 0}
    lock = threading.Lock()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        with self.lock:
            self.counts["requests"] += 1
            self.counts["bytes"] += length
        self._reply(201, b'{"success_count":0,"error_count":0,"errors":[]}')

    def do_GET(self) -> None:
        self._reply(200, b"{}")

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return None


def _serve_sink() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    _announce(f"http://{host}:{port}")
    sys.stdin.read()
    server.shutdown()
    print(json.dumps(_Sink.counts), flush=True)


class _CountingLimiter:
    """Wraps the server's rate limiter: when each request passed, how many got 429."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.passed: list[float] = []
        self.refused = 0

    def acquire(self, key: str) -> int | None:
        wait = self.inner.acquire(key)
        if wait is None:
            self.passed.append(time.monotonic())
        else:
            self.refused += 1
        return wait


def _serve_local(options: dict[str, Any]) -> None:
    from respan_otel import RespanClient
    from respan_otel.local import LocalRespan

    server = LocalRespan(
        api_key=API_KEY,
        db=options.get("db", ":memory:"),
        port=options.get("port", 0),
        rate_limit_per_minute=options.get("rate_limit"),
    )
    server._rate_window_seconds = options.get("window", 60.0)
    server.start()
    state = server._server.state  # type: ignore[union-attr]
    limiter, state.limiter = state.limiter, None
    client = RespanClient(api_key=API_KEY, base_url=server.base_url)
    dataset_id = options.get("dataset_id") or client.datasets.create(name="bench").id
    counting = _CountingLimiter(limiter) if limiter is not None else None
    state.limiter = counting
    _announce(server.base_url, dataset_id)
    sys.stdin.read()
    state.limiter = None
    log_count = client.datasets.get(dataset_id).log_count
    client.close()
    server.stop()
    result = {
        "log_count": log_count,
        "passed": counting.passed if counting else [],
        "refused": counting.refused if counting else 0,
    }
    print(json.dumps(result), flush=True)


def _announce(base_url: str, dataset_id: str = DATASET_ID) -> None:
    info = {"base_url": base_url, "api_key": API_KEY, "dataset_id": dataset_id}
    print(json.dumps(info), flush=True)


if __name__ == "__main__":
    spec = json.loads(sys.argv[1])
    if spec["kind"] == "sink":
        _serve_sink()
    else:
        _serve_local(spec)
