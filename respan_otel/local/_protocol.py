"""Requests, responses and list pages of the local server, independent of HTTP and of routes.

:class:`Request` and :class:`Response` are what :class:`~respan_otel.local._api.Api` maps
between; :func:`list_params` and :func:`paginate` give every list endpoint the same
``page``/``page_size``/``sort_by``/``filters`` handling and the same page shape.
"""

from __future__ import annotations

import builtins
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlencode

from respan_otel.local._common import ApiError, JSONObject, dumps, json_problem, loads
from respan_otel.local._match import compile_filters, sort_path
from respan_otel.local._records import require_object
from respan_otel.local._store import Query

DEFAULT_PAGE_SIZE: Final = 25
MAX_PAGE_SIZE: Final = 100
# No store holds this many pages; a larger page number is simply past the end, and
# capping it keeps a huge number (10**30) away from SQLite's 64-bit OFFSET.
_MAX_PAGE: Final = 2**31


@dataclass
class Request:
    """One API request: ``origin`` (``http://host:port``) is used to build page links."""

    method: str
    path: str
    query: Mapping[str, str]
    body: bytes
    origin: str
    accept: str = ""
    """The request's ``Accept`` header (which form of an export to answer)."""
    _parsed: object = field(default=None, repr=False)
    _has_parsed: bool = field(default=False, repr=False)

    def json(self) -> object:
        """The body as JSON (an empty body reads as ``{}``); 400 when it is not JSON."""
        if not self._has_parsed:
            if not self.body.strip():
                self._parsed = {}
            else:
                try:
                    self._parsed = loads(self.body.decode("utf-8"))
                except UnicodeDecodeError:
                    raise ApiError(400, "JSON parse error - body is not UTF-8") from None
                except (ValueError, RecursionError) as exc:
                    raise ApiError(400, f"JSON parse error - {exc}") from None
            self._has_parsed = True
        return self._parsed

    def object(self) -> Mapping[str, object]:
        """The body as a JSON object that can be stored and sent back; 400 otherwise."""
        body = require_object(self.json())
        problem = json_problem(body)
        if problem is not None:
            raise ApiError(400, f"Invalid request body: {problem}")
        return body

    def body_object(self) -> Mapping[str, builtins.object]:
        """The JSON object body of a POST/PUT/PATCH/DELETE; ``{}`` for GET and HEAD."""
        return self.object() if self.method not in ("GET", "HEAD") else {}


@dataclass
class Response:
    """An HTTP answer; ``close`` asks the server to close the connection after it."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    close: bool = False

    @classmethod
    def json(cls, status: int, payload: object) -> Response:
        """A JSON response."""
        return cls(status, dumps(payload).encode("utf-8"))

    @classmethod
    def error(cls, error: ApiError) -> Response:
        """The JSON response of an :class:`ApiError`."""
        return cls(
            status=error.status, body=dumps(error.body()).encode("utf-8"), headers=error.headers
        )


def as_int(raw: object) -> int | None:
    """An integer from JSON or a query string (``"12"``), else ``None``."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and re.fullmatch(r"\s*-?[0-9]{1,100}\s*", raw):
        return int(raw)
    return None


def as_flag(raw: object) -> bool:
    """A boolean from JSON or a query string (``1``, ``true``, ``yes``, ``on``)."""
    if isinstance(raw, str):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    return raw is True


@dataclass(frozen=True)
class ListParams:
    """What a list request asks for, from its query string and (for POST) its body."""

    page: int
    page_size: int
    sort_by: str
    include_fields: list[str] | None
    filters: object


def list_params(request: Request, *, default_sort: str) -> ListParams:
    """Read ``page``, ``page_size``, ``sort_by``, ``include_fields`` and ``filters``.

    Each is taken from the query string, else from a POST body, as Respan accepts both.
    """
    body = request.body_object()

    def param(name: str) -> object:
        return request.query[name] if name in request.query else body.get(name)

    raw_page = param("page")
    page = as_int(raw_page) if raw_page not in (None, "") else 1
    if page is None or page < 1:
        raise ApiError(404, "Invalid page.")
    raw_size = param("page_size")
    size = as_int(raw_size)
    if raw_size not in (None, "") and (size is None or size < 1):
        raise ApiError(400, "Invalid page_size: expected an integer from 1 to 100")
    page_size = min(size, MAX_PAGE_SIZE) if size is not None else DEFAULT_PAGE_SIZE
    sort_by = param("sort_by")
    if sort_by is None or sort_by == "":
        sort_by = default_sort
    if not isinstance(sort_by, str):
        raise ApiError(400, "Invalid sort_by: expected a field name such as -timestamp")
    raw_fields = param("include_fields")
    include: list[str] | None = None
    if isinstance(raw_fields, str) and raw_fields.strip():
        include = [f.strip() for f in raw_fields.split(",") if f.strip()]
    elif isinstance(raw_fields, list) and raw_fields:
        include = [str(f) for f in raw_fields]
    filters: object = body.get("filters")
    if "filters" in request.query:
        try:
            filters = loads(request.query["filters"])
        except ValueError:
            raise ApiError(
                400, "Invalid filters: the 'filters' query parameter is not JSON"
            ) from None
    return ListParams(page, page_size, sort_by, include, filters)


def query_of(params: ListParams, *, window: bool = True) -> tuple[JSONObject, Query]:
    """``(normalised filters, store query)`` of list parameters; 400 on bad filters."""
    normalized, where, where_params = compile_filters(params.filters)
    path, descending = sort_path(params.sort_by)
    query = Query(where=where, params=where_params, sort_path=path, descending=descending)
    if window:
        query = Query(
            where=where,
            params=where_params,
            sort_path=path,
            descending=descending,
            limit=params.page_size,
            offset=(min(params.page, _MAX_PAGE) - 1) * params.page_size,
        )
    return dict(normalized), query


def _page_url(request: Request, page: int, params: ListParams) -> str:
    query = {"page": str(page)} if page > 1 else {}
    query["page_size"] = str(params.page_size)
    query.update((k, v) for k, v in request.query.items() if k not in ("page", "page_size"))
    return f"{request.origin}{request.path}?{urlencode(query)}"


def only_fields(rows: list[JSONObject], include: list[str] | None) -> list[JSONObject]:
    """Rows cut down to ``include_fields`` (all fields when it is ``None``)."""
    if include is None:
        return rows
    return [{k: row[k] for k in include if k in row} for row in rows]


def paginate(
    request: Request,
    params: ListParams,
    run: Callable[[Query], tuple[int, list[JSONObject]]],
    extra: Mapping[str, object] | None = None,
    *,
    shape: Callable[[JSONObject], JSONObject] | None = None,
) -> Response:
    """One page as ``{count, next, previous, results}``, plus ``extra`` keys.

    ``shape`` turns a stored document into its list item (the default is as stored).
    """
    normalized, query = query_of(params)
    count, rows = run(query)
    pages = max(1, math.ceil(count / params.page_size))
    if params.page > pages:
        # an empty page, not DRF's 404: the official client walks pages until one is empty
        rows = []
    if shape is not None:
        rows = [shape(row) for row in rows]
    payload: JSONObject = {
        "count": count,
        "next": _page_url(request, params.page + 1, params) if params.page < pages else None,
        "previous": _page_url(request, params.page - 1, params) if params.page > 1 else None,
        "results": only_fields(rows, params.include_fields),
        "total_count": count,
        "current_filters": normalized,
    }
    if extra is not None:
        payload.update(extra)
    return Response.json(200, payload)
