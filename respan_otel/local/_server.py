"""HTTP plumbing of the local server: a threading ``http.server`` with Bearer auth,
body limits, optional rate-limit emulation, JSON errors and clean shutdown.
"""

from __future__ import annotations

import collections
import contextlib
import hmac
import math
import selectors
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Final
from urllib.parse import parse_qsl, urlsplit

from respan_otel._version import __version__
from respan_otel.client._export import LOCAL_SERVER_NAME
from respan_otel.local._api import Api, Request, Response
from respan_otel.local._common import dumps, logger
from respan_otel.local._viewer import is_viewer_path, respond

IDLE_CONNECTION_SECONDS: Final = 60.0
"""A keep-alive connection with no request for this long is closed."""


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
    """What request handlers need: the API, the key, the limits."""

    api: Api
    api_key: str
    max_body_bytes: int
    limiter: RateLimiter | None
    origin: str = ""
    connections: set[socket.socket] = field(default_factory=set)
    threads: set[threading.Thread] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


class LocalHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that tracks its connections, so :meth:`close_all` can end
    idle keep-alive connections and join every handler thread on shutdown."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state: ServerState) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.state = state
        self._stopping = threading.Event()
        self._wake_reader, self._wake_writer = socket.socketpair()
        super().__init__(address, _Handler)

    def serve_until_stopped(self) -> None:
        """Accept connections until :meth:`stop_serving`; sleeps in ``select`` meanwhile
        (no polling), and wakes at once when asked to stop."""
        with selectors.DefaultSelector() as selector:
            selector.register(self, selectors.EVENT_READ)
            selector.register(self._wake_reader, selectors.EVENT_READ)
            while not self._stopping.is_set():
                for key, _ in selector.select():
                    if key.fileobj is not self or self._stopping.is_set():
                        continue
                    try:
                        request, client_address = self.get_request()
                    except OSError:
                        continue
                    self.process_request(request, client_address)

    def stop_serving(self) -> None:
        """Make :meth:`serve_until_stopped` return (from any thread)."""
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._wake_writer.send(b"\0")

    def server_close(self) -> None:
        super().server_close()
        self._wake_reader.close()
        self._wake_writer.close()

    def process_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        thread = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name="respan-local-connection",
            daemon=True,
        )
        with self.state.lock:
            self.state.connections.add(request)
            self.state.threads.add(thread)
        thread.start()

    def _serve_connection(self, request: socket.socket, client_address: object) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            with self.state.lock:
                self.state.connections.discard(request)
                self.state.threads.discard(threading.current_thread())

    def handle_error(self, request: object, client_address: object) -> None:
        """Connection-level failures (a client hanging up mid-answer) are debug noise."""
        logger.debug("local Respan server: connection error", exc_info=True)

    def close_all(self, timeout: float) -> bool:
        """End every connection and join its thread; ``False`` if some did not end in time.

        Reading sides are shut first, so an idle keep-alive connection sees end-of-file
        while a request being answered still gets its answer; whatever is left after
        ``timeout`` is cut off completely.
        """
        threads = self._shutdown_connections(socket.SHUT_RD)
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if any(thread.is_alive() for thread in threads):
            threads = self._shutdown_connections(socket.SHUT_RDWR)
            for thread in threads:
                thread.join(1.0)
        return not any(thread.is_alive() for thread in threads)

    def _shutdown_connections(self, how: int) -> list[threading.Thread]:
        with self.state.lock:
            connections = list(self.state.connections)
            threads = list(self.state.threads)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(how)
        return threads


def _json_bytes(detail: str) -> bytes:
    return dumps({"detail": detail}).encode("utf-8")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = f"{LOCAL_SERVER_NAME}/{__version__}"  # how clients know the local server
    timeout = IDLE_CONNECTION_SECONDS
    disable_nagle_algorithm = True
    server: LocalHTTPServer

    def version_string(self) -> str:
        """``Server`` header: our name and version, not Python's."""
        return self.server_version

    # logging: per-request lines go to the library logger at DEBUG, never to stderr

    def log_message(self, format: str, *args: object) -> None:
        logger.debug("local Respan server: %s %s", self.address_string(), format % args)

    # responses

    def _send(self, response: Response) -> None:
        """Write status line, headers and body in one write (separate small writes would
        stall on delayed ACKs)."""
        if response.close:
            self.close_connection = True
        self.log_request(response.status)
        no_body = response.status == HTTPStatus.NO_CONTENT or response.status < 200
        body = b"" if no_body or self.command == "HEAD" else response.body
        if self.request_version == "HTTP/0.9":
            self.wfile.write(body)
            return
        try:
            phrase = HTTPStatus(response.status).phrase
        except ValueError:
            phrase = ""
        headers = [
            f"{self.protocol_version} {response.status} {phrase}",
            f"Server: {self.version_string()}",
            f"Date: {self.date_time_string()}",
        ]
        if not no_body:
            headers.append(f"Content-Type: {response.content_type}")
            headers.append(f"Content-Length: {len(response.body)}")
        headers.extend(f"{name}: {value}" for name, value in response.headers.items())
        if self.close_connection:
            headers.append("Connection: close")
        head = "\r\n".join(headers) + "\r\n\r\n"
        self.wfile.write(head.encode("latin-1", "replace") + body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Protocol-level errors (bad request line, unsupported method) as JSON too."""
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "Error"
        self._send(Response(code, _json_bytes(message or phrase), close=True))

    def _too_large(self, length: int) -> Response:
        limit = self.server.state.max_body_bytes
        return Response(
            413,
            _json_bytes(f"Request body of {length} bytes exceeds the limit of {limit} bytes."),
            close=True,
        )

    def handle_expect_100(self) -> bool:
        """Refuse an oversized body before the client sends it."""
        length = self._content_length()
        if length is not None and length > self.server.state.max_body_bytes:
            self._send(self._too_large(length))
            return False
        return super().handle_expect_100()

    # requests

    def _content_length(self) -> int | None:
        raw = self.headers.get("Content-Length")
        if raw is None:
            return 0
        raw = raw.strip()
        return int(raw) if raw.isdigit() else None

    def _handle(self) -> None:
        try:
            response = self._respond()
        except Exception:
            logger.exception(
                "local Respan server: unhandled error on %s %s",
                self.command,
                urlsplit(self.path).path,
            )
            response = Response(500, _json_bytes("Internal server error"))
        if response is not None:
            self._send(response)

    def _authorized(self) -> Response | None:
        state = self.server.state
        header = self.headers.get("Authorization", "")
        scheme, _, token = header.strip().partition(" ")
        challenge = {"WWW-Authenticate": 'Bearer realm="api"'}
        if scheme.lower() != "bearer" or not token.strip():
            detail = "Authentication credentials were not provided."
            return Response(401, _json_bytes(detail), headers=challenge)
        if not hmac.compare_digest(token.strip().encode("utf-8"), state.api_key.encode("utf-8")):
            detail = "Your API key is invalid or expired."
            return Response(401, _json_bytes(detail), headers=challenge)
        return None

    def _respond(self) -> Response | None:
        state = self.server.state
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return Response(
                411,
                _json_bytes("Chunked request bodies are not supported; send Content-Length."),
                close=True,
            )
        length = self._content_length()
        if length is None:
            return Response(400, _json_bytes("Invalid Content-Length header."), close=True)
        if is_viewer_path(urlsplit(self.path).path):  # the web viewer signs in on its own
            return respond(
                self.command, self.path, self.headers, self.rfile, state.api, state.api_key
            )
        denied = self._authorized()
        if denied is not None:
            # the body is never read for a caller without the key; the connection then
            # cannot be reused, so it is closed after the answer
            denied.close = denied.close or length > 0
            return denied
        if length > state.max_body_bytes:
            return self._too_large(length)
        try:
            body = self.rfile.read(length) if length else b""
        except OSError:
            body = b""
        if len(body) < length:
            self.close_connection = True
            return None
        if state.limiter is not None:
            wait = state.limiter.acquire(state.api_key)
            if wait is not None:
                return Response(
                    429,
                    dumps({"detail": "Rate limit exceeded", "retry_after": wait}).encode("utf-8"),
                    headers={"Retry-After": str(wait)},
                )
        url = urlsplit(self.path)
        host = self.headers.get("Host")
        request = Request(
            method=self.command,
            path=url.path,
            query=dict(parse_qsl(url.query, keep_blank_values=True)),
            body=body,
            origin=f"http://{host}" if host else state.origin,
        )
        return state.api.handle(request)


for _method in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"):
    setattr(_Handler, f"do_{_method}", _Handler._handle)
