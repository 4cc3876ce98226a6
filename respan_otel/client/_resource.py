"""What every resource of :class:`~respan_otel.RespanClient` shares: argument checks,
paths, paging and the transport."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Final, TypeVar
from urllib.parse import quote

from respan_otel._datasets import dataset_id_of
from respan_otel._unset import UNSET
from respan_otel.client._errors import RespanError
from respan_otel.client._filters import Filters, normalize_filters
from respan_otel.client._page_types import Page
from respan_otel.client._transport import HTTPTransport

BULK_MAX_LOGS: Final = 500
"""Most logs the bulk endpoint takes in one request; ``bulk_create`` chunks to this."""
MAX_PAGE_SIZE: Final = 100
"""Largest ``page_size`` the list endpoints accept."""

__all__ = ["BULK_MAX_LOGS", "MAX_PAGE_SIZE", "UNSET"]

T = TypeVar("T")


def _segment(name: str, value: object) -> str:
    """One URL path segment from an id, quoted; the error names the argument."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return quote(value, safe="")


def _dataset_segment(value: object) -> str:
    """A dataset id as a path segment; ``id:<id>`` (the call-site id form) is ``<id>``."""
    return _segment("dataset_id", dataset_id_of(value) if isinstance(value, str) else value)


def _filters(name: str, filters: Mapping[str, object] | None) -> Filters | None:
    if filters is None:
        return None
    if not isinstance(filters, Mapping):
        raise ValueError(f"{name} must be a dict of {{field: {{operator, value}}}}")
    try:
        return normalize_filters(filters)
    except ValueError as exc:
        raise ValueError(f"invalid {name}: {exc}") from None


def _page_size(value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be an integer from 1 to {MAX_PAGE_SIZE}, got {value!r}")
    return value


def _page(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"page must be an integer of at least 1, got {value!r}")
    return value


def _sort_by(value: str | None) -> str | None:
    if value is not None and (not isinstance(value, str) or not value.strip("-").strip()):
        raise ValueError(f"sort_by must be a field name, optionally prefixed by '-': {value!r}")
    return value


def _fields_param(value: str | Sequence[str] | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    names = builtins.list(value)
    if not all(isinstance(name, str) and name for name in names):
        raise ValueError("include_fields must be field names")
    return ",".join(names)


def _results(body: Any, path: str) -> tuple[builtins.list[Mapping[str, Any]], bool]:
    """A list page's items and whether another page follows."""
    if not isinstance(body, Mapping):
        raise RespanError(
            f"POST {path}: expected a page of results, got {type(body).__name__}",
            method="POST",
            path=path,
        )
    items = body.get("results")
    results = (
        [item for item in items if isinstance(item, Mapping)]
        if isinstance(items, builtins.list)
        else []
    )
    return results, bool(body.get("next")) and bool(results)


def _paginate(fetch: Callable[[int], Any], path: str) -> Iterator[Mapping[str, Any]]:
    """Walk pages 1, 2, ... lazily until the server says there is no next page."""
    page = 1
    while True:
        results, more = _results(fetch(page), path)
        yield from results
        if not more:
            return
        page += 1


def _object(body: Any, method: str, path: str) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise RespanError(
            f"{method} {path}: expected a JSON object, got {type(body).__name__}",
            method=method,
            path=path,
        )
    return body


class _Resource:
    __slots__ = ("_http",)

    def __init__(self, transport: HTTPTransport) -> None:
        self._http = transport

    def _list_all(
        self,
        path: str,
        filters: Mapping[str, object] | None,
        page_size: int,
        sort_by: str | None,
    ) -> Iterator[Mapping[str, Any]]:
        """Every item of a list endpoint (``POST .../list/``), fetched page by page."""
        _page_size(page_size)
        _sort_by(sort_by)
        normalized = _filters("filters", filters)
        body: dict[str, Any] = {} if normalized is None else {"filters": normalized}

        def fetch(page: int) -> Any:
            params = {"page": page, "page_size": page_size, "sort_by": sort_by}
            return self._http.request("POST", path, params=params, body=body, idempotent=True)

        return _paginate(fetch, path)

    def _list_page(
        self,
        path: str,
        *,
        filters: Mapping[str, object] | None,
        page: int,
        page_size: int | None,
        sort_by: str | None,
        item: Callable[[Mapping[str, Any]], T],
        extra_params: Mapping[str, object] | None = None,
    ) -> Page[T]:
        """One page of a list endpoint (``POST .../list/``), each result through ``item``."""
        params: dict[str, object] = {
            "page": _page(page),
            "page_size": _page_size(page_size),
            "sort_by": _sort_by(sort_by),
            **(extra_params or {}),
        }
        normalized = _filters("filters", filters)
        body: dict[str, Any] = {} if normalized is None else {"filters": normalized}
        answer = self._http.request("POST", path, params=params, body=body, idempotent=True)
        return Page.from_api(_object(answer, "POST", path), item)
