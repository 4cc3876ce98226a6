"""Reading every log of a dataset fast: the server's own export when it answers with the
file directly (the local server does), page by page otherwise.

Respan's own ``is_exporting`` list call runs in the background and e-mails the file, so
it is used only where the reply names the local server (its ``Server`` header); a real
backend is read page by page, 100 logs a request.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

import requests

from respan_otel.client._transport import HTTPTransport

LOCAL_SERVER_NAME: Final = "respan-otel-local"
"""The product token of the local server's ``Server`` header (``respan-otel-local/1.2``)."""
EXPORT_TIMEOUT: Final = 600.0
"""Seconds a whole server-side export may take (it is built before the first byte)."""
_PAGE_SIZE: Final = 100


@dataclass
class ExportRows:
    """The rows of an export as they arrive, and how many the server said match."""

    total: int
    rows: Iterator[dict[str, Any]]
    server_side: bool


def _with_server(response: requests.Response) -> tuple[str, Any]:
    text = response.text
    return response.headers.get("Server", ""), json.loads(text) if text.strip() else None


def _jsonl(response: requests.Response) -> list[dict[str, Any]] | None:
    """The rows of a JSON Lines reply, or ``None`` when the reply is not one."""
    if "ndjson" not in response.headers.get("Content-Type", ""):
        return None
    return [json.loads(line) for line in response.content.splitlines() if line.strip()]


def export_rows(
    http: HTTPTransport, path: str, body: Mapping[str, Any], sort_by: str | None
) -> ExportRows:
    """Every log the list endpoint at ``path`` returns for ``body`` (its filters)."""
    params: dict[str, Any] = {"page": 1, "page_size": _PAGE_SIZE, "sort_by": sort_by}
    server, first = _with_server_call(http, path, params, body)
    results = [dict(row) for row in first.get("results") or []]
    total = int(first.get("count") or 0)
    if total <= len(results) or not first.get("next"):
        return ExportRows(total, iter(results), server_side=False)
    if server.split("/", 1)[0] == LOCAL_SERVER_NAME:
        rows = http.request(
            "POST",
            path,
            # download: the file itself, not Respan's {"message"} shape with it inside
            params={"sort_by": sort_by, "download": "true"},
            body={**body, "is_exporting": True, "export_format": ".jsonl"},
            idempotent=True,
            timeout=max(http.timeout, EXPORT_TIMEOUT),
            decode=_jsonl,
        )
        if rows is not None:
            return ExportRows(len(rows), iter(rows), server_side=True)
    return ExportRows(total, _pages(http, path, body, sort_by, results), server_side=False)


def _with_server_call(
    http: HTTPTransport, path: str, params: Mapping[str, Any], body: Mapping[str, Any]
) -> tuple[str, Mapping[str, Any]]:
    server, page = http.request(
        "POST", path, params=params, body=body, idempotent=True, decode=_with_server
    )
    return str(server), page if isinstance(page, Mapping) else {}


def _pages(
    http: HTTPTransport,
    path: str,
    body: Mapping[str, Any],
    sort_by: str | None,
    first: list[dict[str, Any]],
) -> Iterator[dict[str, Any]]:
    yield from first
    page = 2
    while True:
        params = {"page": page, "page_size": _PAGE_SIZE, "sort_by": sort_by}
        answer = http.request("POST", path, params=params, body=body, idempotent=True)
        results = answer.get("results") if isinstance(answer, Mapping) else None
        if not results:
            return
        yield from (dict(row) for row in results)
        if not answer.get("next"):
            return
        page += 1


def jsonl_line(row: Mapping[str, Any]) -> str:
    """One log as a line of JSON Lines."""
    return json.dumps(row, ensure_ascii=False) + "\n"
