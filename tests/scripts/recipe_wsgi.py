"""A WSGI app configured at import, as gunicorn --preload imports it once in the master."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import respan_otel
from respan_otel import trace

respan_otel.configure(service_name="wsgi-recipe")


@trace(kind="workflow")
def answer(path: str) -> str:
    return path.upper()


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    body = answer(environ["PATH_INFO"]).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
