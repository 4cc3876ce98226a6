"""The read-only web viewer of the local server: its pages, its session and its JSON.

``/`` serves one page (``viewer/index.html`` with its script and style), which asks for
the API key once; ``POST /ui/login`` answers with a session cookie derived from the key
(HttpOnly, SameSite=Strict, never the key itself). The page then reads ``/ui/api/...``,
which answers from the same :class:`Api` the REST routes use, so its filters and paging
are the API's own. Nothing here writes data.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import importlib.resources
from collections.abc import Mapping
from email.message import Message
from http.cookies import CookieError, SimpleCookie
from typing import Final, Protocol
from urllib.parse import parse_qsl, urlsplit

from respan_otel.local._api import Api, Response
from respan_otel.local._common import ApiError, dumps, loads
from respan_otel.local._viewer_reads import Reader

COOKIE_NAME: Final = "respan_viewer"
MAX_LOGIN_BYTES: Final = 4096
_STATIC: Final[Mapping[str, tuple[str, str]]] = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/ui/viewer.js": ("viewer.js", "text/javascript; charset=utf-8"),
    "/ui/viewer.css": ("viewer.css", "text/css; charset=utf-8"),
}
_SECURITY_HEADERS: Final[Mapping[str, str]] = {
    # scripts and styles only from the package's own files; never framed by another site
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class _Readable(Protocol):
    def read(self, size: int, /) -> bytes: ...


def is_viewer_path(path: str) -> bool:
    """Whether a request path belongs to the viewer rather than the REST API."""
    return path in _STATIC or path.startswith("/ui/")


@functools.lru_cache(maxsize=8)
def session_token(api_key: str) -> str:
    """The session cookie's value: a slow one-way hash of the key, so a leaked cookie
    neither shows the key nor lets anyone guess it quickly."""
    digest = hashlib.pbkdf2_hmac(
        "sha256", api_key.encode("utf-8"), b"respan-otel local viewer session", 50_000
    )
    return digest.hex()


def _cookie(value: str, *, clear: bool = False) -> str:
    age = "; Max-Age=0" if clear else ""
    return f"{COOKIE_NAME}={value}; Path=/; HttpOnly; SameSite=Strict{age}"


def _signed_in(headers: Message, api_key: str) -> bool:
    scheme, _, token = headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return hmac.compare_digest(token.strip().encode(), api_key.encode())
    try:
        morsel = SimpleCookie(headers.get("Cookie", "")).get(COOKIE_NAME)
    except CookieError:
        return False
    return morsel is not None and hmac.compare_digest(
        morsel.value.encode(), session_token(api_key).encode()
    )


def _json(status: int, payload: object, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        status, dumps(payload).encode("utf-8"), headers={**_SECURITY_HEADERS, **(headers or {})}
    )


def _error(status: int, detail: str) -> Response:
    return _json(status, {"detail": detail})


def respond(
    method: str, target: str, headers: Message, body: _Readable, api: Api, api_key: str
) -> Response:
    """Answer one viewer request (``target`` is the request line's path and query)."""
    response = _answer(method, target, headers, body, api, api_key)
    if headers.get("Content-Length", "0").strip() != "0" and urlsplit(target).path != "/ui/login":
        response.close = True  # a body nobody read would be taken for the next request
    return response


def _answer(
    method: str, target: str, headers: Message, body: _Readable, api: Api, api_key: str
) -> Response:
    url = urlsplit(target)
    path = url.path
    if path in _STATIC:
        if method not in ("GET", "HEAD"):
            return _error(405, f'Method "{method}" not allowed.')
        name, content_type = _STATIC[path]
        data = (
            importlib.resources.files("respan_otel.local")
            .joinpath("viewer")
            .joinpath(name)
            .read_bytes()
        )
        return Response(200, data, content_type=content_type, headers=dict(_SECURITY_HEADERS))
    if path in ("/ui/login", "/ui/logout"):
        if method != "POST":
            return _error(405, f'Method "{method}" not allowed.')
        if path == "/ui/logout":
            return Response(
                204, headers={**_SECURITY_HEADERS, "Set-Cookie": _cookie("", clear=True)}
            )
        return _login(headers, body, api_key)
    if not _signed_in(headers, api_key):
        return _error(401, "Sign in with the server's API key first.")
    if method not in ("GET", "HEAD"):
        return _error(405, "The viewer is read-only.")
    query = dict(parse_qsl(url.query, keep_blank_values=True))
    try:
        return _json(200, Reader(api).route(path, query))
    except ApiError as error:
        return _json(error.status, error.body())


def _login(headers: Message, body: _Readable, api_key: str) -> Response:
    """Check the key once and hand out the session cookie."""
    raw_length = headers.get("Content-Length", "0").strip()
    if not raw_length.isdigit() or "chunked" in headers.get("Transfer-Encoding", "").lower():
        return Response(411, b'{"detail":"Send the key with a Content-Length."}', close=True)
    length = int(raw_length)
    if length > MAX_LOGIN_BYTES:
        return Response(413, b'{"detail":"Sign-in body too large."}', close=True)
    try:
        payload = loads(body.read(length))
    except (ValueError, UnicodeDecodeError):
        payload = None
    key = payload.get("api_key") if isinstance(payload, dict) else None
    if not isinstance(key, str) or not hmac.compare_digest(key.encode(), api_key.encode()):
        return _error(401, "That is not this server's API key.")
    return Response(
        204, headers={**_SECURITY_HEADERS, "Set-Cookie": _cookie(session_token(api_key))}
    )
