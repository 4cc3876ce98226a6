"""HTTP plumbing of the local server: a threading ``http.server`` with a cap on open
connections, a deadline for reading each request, and clean shutdown. Requests are
handled by :class:`~respan_otel.local._handler.Handler`.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import time
from http.server import ThreadingHTTPServer
from typing import Final

from respan_otel.local._common import logger
from respan_otel.local._handler import Handler
from respan_otel.local._server_state import RateLimiter, ServerState

__all__ = ["LocalHTTPServer", "RateLimiter", "ServerState"]

_BUSY_BODY: Final = b'{"detail":"Too many open connections; retry in a moment."}'
_BUSY: Final = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Retry-After: 1\r\nConnection: close\r\n"
    + f"Content-Length: {len(_BUSY_BODY)}\r\n\r\n".encode()
    + _BUSY_BODY
)


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
        self._wake_writer.setblocking(False)  # a full pipe already means "wake up"
        super().__init__(address, Handler)

    def serve_until_stopped(self) -> None:
        """Accept connections until :meth:`stop_serving`; sleeps in ``select`` until a
        connection arrives or the next request deadline passes (no polling), and wakes at
        once when asked to stop."""
        with selectors.DefaultSelector() as selector:
            selector.register(self, selectors.EVENT_READ)
            selector.register(self._wake_reader, selectors.EVENT_READ)
            while not self._stopping.is_set():
                for key, _ in selector.select(self._close_overdue()):
                    if key.fileobj is self._wake_reader:
                        with contextlib.suppress(OSError):
                            self._wake_reader.recv(4096)
                        continue
                    if self._stopping.is_set():
                        continue
                    try:
                        request, client_address = self.get_request()
                    except OSError:
                        continue
                    self.process_request(request, client_address)

    def wake(self) -> None:
        """Make the accept loop look at the deadlines again (a new one was set)."""
        with contextlib.suppress(OSError):
            self._wake_writer.send(b"\0")

    def _close_overdue(self) -> float | None:
        """Cut off connections past their request deadline; seconds to the next one."""
        now = time.monotonic()
        state = self.state
        with state.lock:
            overdue = [conn for conn, deadline in state.deadlines.items() if deadline <= now]
            for conn in overdue:
                del state.deadlines[conn]
            upcoming = min(state.deadlines.values(), default=None)
        for conn in overdue:
            logger.debug("local Respan server: closing a connection past its request deadline")
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        return None if upcoming is None else max(0.0, upcoming - now)

    def stop_serving(self) -> None:
        """Make :meth:`serve_until_stopped` return (from any thread)."""
        self._stopping.set()
        self.wake()

    def server_close(self) -> None:
        super().server_close()
        self._wake_reader.close()
        self._wake_writer.close()

    def process_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        with self.state.lock:
            busy = len(self.state.connections) >= self.state.max_connections
        if busy:
            # answered from the accept loop without a thread: a short, non-blocking write
            with contextlib.suppress(OSError):
                request.setblocking(False)
                request.send(_BUSY)
            self.shutdown_request(request)
            return
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
                self.state.deadlines.pop(request, None)
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
