"""A scriptable HTTP server that misbehaves on demand, for testing HTTP clients.

It answers from a queue of :class:`Reply` objects, one per request, in order; each reply
sets the status, body, headers, a delay before answering, or drops the connection
without answering. When the queue is empty it asks ``handler`` (a function of the
:class:`RecordedRequest`), else answers the ``default`` reply (a loud 599 unless set),
so a test that sends one request more than it scripted fails visibly. Every request is
recorded (method, path with query, headers, body, arrival time) before it is answered.

Standard library only: ``http.server`` on 127.0.0.1, an OS-chosen port, HTTP/1.1 with
keep-alive (so pooled clients behave as they do in production). Use it as a context
manager; leaving it joins every thread and closes every socket, including kept-alive
connections and replies still sleeping in a delay::

    with FaultyServer() as server:
        server.enqueue(Reply(503), Reply(200, {"ok": True}))
        ...  # point the client at server.url
        assert [r.method for r in server.requests] == ["GET", "GET"]
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["FaultyServer", "RecordedRequest", "Reply", "json_reply"]


@dataclass(frozen=True)
class Reply:
    """One scripted answer.

    ``body`` may be bytes, text, or anything JSON-serialisable (sent as
    ``application/json``); ``None`` sends an empty body. ``headers`` are added as given
    (a ``Content-Type`` here wins). ``delay`` waits that many seconds before answering
    (cut short when the server stops). ``drop`` reads the request and then closes the
    connection without a byte of answer, as a crashed proxy would.
    """

    status: int = 200
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False


def json_reply(status: int = 200, /, **body: Any) -> Reply:
    """Shorthand: ``json_reply(429, detail="Rate limit exceeded", retry_after=0.2)``.

    ``status`` is positional-only, so a body may have a ``status`` field of its own.
    """
    return Reply(status, body)


@dataclass(frozen=True)
class RecordedRequest:
    """A request as the server saw it.

    ``received_at`` is a ``time.monotonic()`` reading taken once the request was read,
    before it was answered: gaps between requests measure the client's waits.
    """

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    received_at: float

    @property
    def route(self) -> str:
        """The path without its query string."""
        return urlsplit(self.path).path

    @property
    def query(self) -> dict[str, list[str]]:
        """The query string, parsed."""
        return parse_qs(urlsplit(self.path).query)

    def header(self, name: str) -> str | None:
        """A header by case-insensitive name."""
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return None

    def json(self) -> Any:
        """The body, decoded as JSON."""
        return json.loads(self.body)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # no 40 ms Nagle/delayed-ACK stall per reply
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log."""

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        record = RecordedRequest(
            method=self.command,
            path=self.path,
            headers=dict(self.headers.items()),
            body=body,
            received_at=time.monotonic(),
        )
        owner = self.server.owner
        reply = owner._next_reply(record)
        if reply.delay and owner._stopping.wait(reply.delay):
            self.close_connection = True
            return
        if reply.drop:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        payload, content_type = _encode(reply.body)
        self.send_response(reply.status)
        names = {name.lower() for name in reply.headers}
        if "content-type" not in names and payload:
            self.send_header("Content-Type", content_type)
        if "content-length" not in names:
            self.send_header("Content-Length", str(len(payload)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if payload and self.command != "HEAD":
            self.wfile.write(payload)
        self.wfile.flush()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve  # noqa: N815

    def handle(self) -> None:
        self.server.owner._track(self.connection, add=True)
        try:
            super().handle()
        except OSError:
            # The client gave up (a timeout test) or the server is stopping.
            self.close_connection = True
        finally:
            self.server.owner._track(self.connection, add=False)


def _encode(body: Any) -> tuple[bytes, str]:
    if body is None:
        return b"", "application/json"
    if isinstance(body, bytes):
        return body, "application/octet-stream"
    if isinstance(body, str):
        return body.encode(), "text/plain; charset=utf-8"
    return json.dumps(body).encode(), "application/json"


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True
    owner: FaultyServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Connection errors are expected here; keep them off stderr."""


class FaultyServer:
    """The scripted server; see the module docstring."""

    def __init__(
        self,
        *replies: Reply,
        handler: Callable[[RecordedRequest], Reply] | None = None,
        default: Reply | None = None,
    ) -> None:
        self.handler = handler
        self.default = default or json_reply(599, detail="faulty_server: no reply scripted")
        self._queue: deque[Reply] = deque(replies)
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` of the running server."""
        if self._server is None:
            raise RuntimeError("FaultyServer is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the requests received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def enqueue(self, *replies: Reply) -> None:
        """Append replies to the script."""
        with self._lock:
            self._queue.extend(replies)

    @property
    def pending(self) -> int:
        """Scripted replies not used yet."""
        with self._lock:
            return len(self._queue)

    def _next_reply(self, record: RecordedRequest) -> Reply:
        with self._lock:
            self._requests.append(record)
            if self._queue:
                return self._queue.popleft()
        if self.handler is not None:
            return self.handler(record)
        return self.default

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if not add:
                self._connections.discard(conn)
                return
            self._connections.add(conn)
            stopping = self._stopping.is_set()
        if stopping:
            # Accepted just as the server stopped: don't let it wait for a next request.
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def start(self) -> FaultyServer:
        """Bind 127.0.0.1 on a free port and serve in a background thread."""
        if self._server is not None:
            raise RuntimeError("FaultyServer is already running")
        server = _Server(("127.0.0.1", 0), _Handler)
        server.owner = self
        self._stopping.clear()
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.01},
            name="faulty-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake sleeping replies, close open connections, join threads."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stopping.set()
        server.shutdown()
        thread.join()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()  # joins the handler threads (block_on_close)
        self._server = self._thread = None

    def __enter__(self) -> FaultyServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
