"""The local server's request handler: the health check, the viewer hook, Bearer auth
before anything else, body limits, rate-limit emulation and JSON errors."""

from __future__ import annotations

import hmac
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Final
from urllib.parse import parse_qsl, urlsplit

from respan_otel._version import __version__
from respan_otel.client._export import LOCAL_SERVER_NAME
from respan_otel.local._api import API_PREFIX, Request, Response
from respan_otel.local._common import dumps, logger
from respan_otel.local._viewer import is_viewer_path, respond

if TYPE_CHECKING:
    from respan_otel.local._server import LocalHTTPServer

HEALTH_PATHS: Final = frozenset({"/api/health", "/api/health/"})
"""The one path answered without the key: ``{"status": "ok"}``, for readiness probes."""
_MAX_LENGTH_DIGITS: Final = 18
_KEY_HINT: Final = (
    " (respan-otel serve prints its key at start-up and keeps it in its database; "
    "RESPAN_API_KEY must match it)"
)


def _json_bytes(detail: str) -> bytes:
    return dumps({"detail": detail}).encode("utf-8")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = f"{LOCAL_SERVER_NAME}/{__version__}"  # how clients know the local server
    disable_nagle_algorithm = True
    server: LocalHTTPServer

    def setup(self) -> None:
        super().setup()
        # no single read waits longer than a whole request may take (the server also
        # closes a connection whose request is not read by its deadline)
        self.connection.settimeout(self.server.state.request_seconds)

    def handle_one_request(self) -> None:
        """One request; its reading (and the wait for it) must end by the deadline."""
        state = self.server.state
        with state.lock:
            # every deadline is now + the same span, so only one into an empty table can
            # be earlier than the accept loop's next wake-up
            first = not state.deadlines
            state.deadlines[self.connection] = time.monotonic() + state.request_seconds
        if first:
            self.server.wake()
        super().handle_one_request()

    def _answering(self) -> None:
        """The request is read: no deadline while the API works on it."""
        state = self.server.state
        with state.lock:
            state.deadlines.pop(self.connection, None)

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
        """Protocol-level errors (bad request line, unsupported method) as JSON too.

        An unsupported method from a caller without the key gets the 401 instead: nothing
        but the health check is answered before authentication.
        """
        if code == HTTPStatus.NOT_IMPLEMENTED and getattr(self, "headers", None) is not None:
            denied = self._authorized()
            if denied is not None:
                denied.close = True
                self._send(denied)
                return
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
        # ASCII digits only: str.isdigit() also accepts "²", which int() refuses
        if not (raw.isascii() and raw.isdigit()) or len(raw) > _MAX_LENGTH_DIGITS:
            return None
        return int(raw)

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
            detail = "Your API key is invalid or expired." + _KEY_HINT
            return Response(401, _json_bytes(detail), headers=challenge)
        return None

    def _respond(self) -> Response | None:
        state = self.server.state
        path = urlsplit(self.path).path
        if path in HEALTH_PATHS and self.command in ("GET", "HEAD"):
            self._answering()
            return Response(200, dumps({"status": "ok", "version": __version__}).encode())
        length = self._content_length()
        if is_viewer_path(path):  # the web viewer signs in on its own
            if length is None:
                return Response(400, _json_bytes("Invalid Content-Length header."), close=True)
            self._answering()
            return respond(
                self.command, self.path, self.headers, self.rfile, state.api, state.api_key
            )
        denied = self._authorized()
        if denied is not None:
            # the body is never read for a caller without the key; the connection then
            # cannot be reused, so it is closed after the answer
            denied.close = denied.close or length != 0
            return denied
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return Response(
                411,
                _json_bytes("Chunked request bodies are not supported; send Content-Length."),
                close=True,
            )
        if length is None:
            return Response(400, _json_bytes("Invalid Content-Length header."), close=True)
        if length > state.max_body_bytes:
            return self._too_large(length)
        try:
            body = self.rfile.read(length) if length else b""
        except (OSError, ValueError):  # ValueError: the server closed it at the deadline
            body = b""
        if len(body) < length:
            self.close_connection = True
            return None
        self._answering()
        if state.limiter is not None:
            wait = state.limiter.acquire(state.api_key)
            if wait is not None:
                return Response(
                    429,
                    dumps({"detail": "Rate limit exceeded", "retry_after": wait}).encode("utf-8"),
                    headers={"Retry-After": str(wait)},
                )
        if not path.startswith(API_PREFIX):
            return Response(404, _json_bytes("Not found."))
        url = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=url.path,
            query=dict(parse_qsl(url.query, keep_blank_values=True)),
            body=body,
            origin=state.origin_for(self.headers.get("Host")),
            accept=self.headers.get("Accept", ""),
        )
        return state.api.handle(request)


for _method in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"):
    setattr(Handler, f"do_{_method}", Handler._handle)
