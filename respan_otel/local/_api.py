"""The Respan datasets and experiments API, over the local store, independent of HTTP.

:class:`Api` maps a :class:`Request` (method, path, query, body) to a :class:`Response`.
Paths are the real API's, each accepted with or without its trailing slash.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlencode

from respan_otel.local._common import (
    ApiError,
    JSONObject,
    canonical_id,
    dumps,
    loads,
    new_log_id,
    new_uuid,
    not_found,
    now_iso,
)
from respan_otel.local._match import compile_filters, sort_path
from respan_otel.local._records import (
    build_dataset,
    build_experiment,
    build_log,
    describe_errors,
    require_object,
    validate_dataset_create,
    validate_dataset_update,
    validate_experiment,
    validate_log,
)
from respan_otel.local._store import Query, Store, StoredLog

MAX_BULK_LOGS: Final = 500
DEFAULT_PAGE_SIZE: Final = 25
MAX_PAGE_SIZE: Final = 100
SAVED_LOGS_DATASET: Final = "_saved_logs"
"""Respan's virtual dataset of saved logs; it always exists."""

_EXPORT_TYPES: Final[Mapping[str, tuple[str, str]]] = {
    ".csv": (".csv", "text/csv; charset=utf-8"),
    "csv": (".csv", "text/csv; charset=utf-8"),
    ".jsonl": (".jsonl", "application/x-ndjson; charset=utf-8"),
    "jsonl": (".jsonl", "application/x-ndjson; charset=utf-8"),
}


@dataclass
class Request:
    """One API request: ``origin`` (``http://host:port``) is used to build page links."""

    method: str
    path: str
    query: Mapping[str, str]
    body: bytes
    origin: str
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
        """The body as a JSON object; 400 otherwise."""
        return require_object(self.json())


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


Handler = Callable[..., Response]
_ID: Final = r"(?P<{}>[^/]+)"


def _route(pattern: str) -> re.Pattern[str]:
    names = re.findall(r"\{(\w+)\}", pattern)
    regex = re.escape(pattern.rstrip("/"))
    for name in names:
        regex = regex.replace(re.escape("{" + name + "}"), _ID.format(name))
    return re.compile(f"^{regex}/?$")


def _int(raw: object) -> int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and re.fullmatch(r"\s*-?\d+\s*", raw):
        return int(raw)
    return None


def _flag(raw: object) -> bool:
    if isinstance(raw, str):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    return raw is True


@dataclass(frozen=True)
class _ListParams:
    page: int
    page_size: int
    sort_by: str
    include_fields: list[str] | None
    filters: object


class Api:
    """Routes requests to handlers over a :class:`Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._routes: list[tuple[re.Pattern[str], dict[str, str]]] = [
            (_route("/api/datasets/"), {"POST": "create_dataset", "GET": "list_datasets"}),
            (
                _route("/api/datasets/list/"),
                {"POST": "list_datasets", "GET": "list_datasets"},
            ),
            (
                _route("/api/datasets/{ds}/logs/bulk/"),
                {"POST": "bulk_create_logs"},
            ),
            (
                _route("/api/datasets/{ds}/logs/list/"),
                {"POST": "list_logs", "GET": "list_logs"},
            ),
            (
                _route("/api/datasets/{ds}/logs/"),
                {"POST": "create_log", "GET": "list_logs"},
            ),
            (
                _route("/api/datasets/{ds}/logs/{uid}/"),
                {
                    "GET": "get_log",
                    "PATCH": "update_log",
                    "PUT": "replace_log",
                    "DELETE": "delete_log",
                },
            ),
            (
                _route("/api/datasets/{ds}/"),
                {
                    "GET": "get_dataset",
                    "PATCH": "update_dataset",
                    "DELETE": "delete_dataset",
                },
            ),
            (
                _route("/api/v2/experiments/"),
                {"POST": "create_experiment", "GET": "list_experiments"},
            ),
            (
                _route("/api/v2/experiments/list/"),
                {"POST": "list_experiments", "GET": "list_experiments"},
            ),
            (
                _route("/api/v2/experiments/{exp}/"),
                {"GET": "get_experiment", "DELETE": "delete_experiment"},
            ),
        ]

    def handle(self, request: Request) -> Response:
        """Answer one request; API errors become their JSON responses."""
        try:
            for pattern, methods in self._routes:
                found = pattern.match(request.path)
                if found is None:
                    continue
                name = methods.get(request.method)
                if name is None:
                    allowed = ", ".join(sorted(methods))
                    raise ApiError(
                        405,
                        f'Method "{request.method}" not allowed.',
                        headers={"Allow": allowed},
                    )
                handler: Handler = getattr(self, name)
                return handler(request, **found.groupdict())
            raise ApiError(404, "Not found.")
        except ApiError as error:
            return Response.error(error)

    # shared helpers

    def _dataset_id(self, raw: str) -> str:
        """The stored id of a dataset named in a path; 404 when there is none."""
        if raw == SAVED_LOGS_DATASET:
            return raw
        dataset_id = canonical_id(raw, dashed=True)
        if not self.store.dataset_exists(dataset_id):
            raise not_found("Dataset")
        return dataset_id

    def _list_params(self, request: Request, *, default_sort: str) -> _ListParams:
        body: Mapping[str, object] = request.object() if request.method == "POST" else {}

        def param(name: str) -> object:
            return request.query[name] if name in request.query else body.get(name)

        page = _int(param("page")) if param("page") is not None else 1
        if page is None or page < 1:
            raise ApiError(404, "Invalid page.")
        size = _int(param("page_size"))
        page_size = min(size, MAX_PAGE_SIZE) if size is not None and size > 0 else DEFAULT_PAGE_SIZE
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
        return _ListParams(page, page_size, sort_by, include, filters)

    def _page_url(self, request: Request, page: int, params: _ListParams) -> str:
        query = {"page": str(page)} if page > 1 else {}
        query["page_size"] = str(params.page_size)
        query.update((k, v) for k, v in request.query.items() if k not in ("page", "page_size"))
        return f"{request.origin}{request.path}?{urlencode(query)}"

    def _paginate(
        self,
        request: Request,
        params: _ListParams,
        run: Callable[[Query], tuple[int, list[JSONObject]]],
        extra: Mapping[str, object] | None = None,
    ) -> Response:
        normalized, where, where_params = compile_filters(params.filters)
        path, descending = sort_path(params.sort_by)
        query = Query(
            where=where,
            params=where_params,
            sort_path=path,
            descending=descending,
            limit=params.page_size,
            offset=(params.page - 1) * params.page_size,
        )
        count, rows = run(query)
        pages = max(1, math.ceil(count / params.page_size))
        if params.page > pages:
            raise ApiError(404, "Invalid page.")
        if params.include_fields is not None:
            rows = [{k: row[k] for k in params.include_fields if k in row} for row in rows]
        payload: JSONObject = {
            "count": count,
            "next": self._page_url(request, params.page + 1, params)
            if params.page < pages
            else None,
            "previous": self._page_url(request, params.page - 1, params)
            if params.page > 1
            else None,
            "results": rows,
        }
        if extra is not None:
            payload["total_count"] = count
            payload["current_filters"] = normalized
            payload.update(extra)
        return Response.json(200, payload)

    # datasets

    def create_dataset(self, request: Request) -> Response:
        """``POST /api/datasets/``: a new (empty, sampled-from-nothing, or duplicated) dataset."""
        body = request.object()
        errors = validate_dataset_create(body)
        if errors:
            raise ApiError(400, "Validation error", errors=errors)
        now = now_iso()
        source_raw = body.get("source_dataset_id")
        if isinstance(source_raw, str):
            source = self.store.get_dataset(canonical_id(source_raw, dashed=True))
            if source is None:
                raise not_found("Source dataset")
            fields = dict(body)
            if fields.get("name") is None:
                fields["name"] = f"{source['name']} (copy)"
            doc = build_dataset(fields, dataset_id=new_uuid(), now=now)
            doc["source_dataset_id"] = source["id"]
            created = self.store.duplicate_dataset(doc, str(source["id"]), new_log_id)
        else:
            created = self.store.create_dataset(build_dataset(body, dataset_id=new_uuid(), now=now))
        return Response.json(201, created)

    def list_datasets(self, request: Request) -> Response:
        """``POST /api/datasets/list/`` and ``GET /api/datasets/``: one page of datasets."""
        params = self._list_params(request, default_sort="-created_at")
        return self._paginate(request, params, self.store.list_datasets)

    def get_dataset(self, request: Request, ds: str) -> Response:
        """``GET /api/datasets/{id}/``."""
        dataset = self.store.get_dataset(canonical_id(ds, dashed=True))
        if dataset is None:
            raise not_found("Dataset")
        return Response.json(200, dataset)

    def update_dataset(self, request: Request, ds: str) -> Response:
        """``PATCH /api/datasets/{id}/``: name, description, starred, tags."""
        dataset_id = canonical_id(ds, dashed=True)
        if not self.store.dataset_exists(dataset_id):
            raise not_found("Dataset")
        body = request.object()
        errors = validate_dataset_update(body)
        if errors:
            raise ApiError(400, "Validation error", errors=errors)
        changes: JSONObject = {
            k: body[k] for k in ("name", "description", "starred", "tags") if k in body
        }
        if changes.get("description", "") is None:
            changes["description"] = ""
        changes["updated_at"] = now_iso()
        updated = self.store.update_dataset(dataset_id, changes)
        if updated is None:
            raise not_found("Dataset")
        return Response.json(200, updated)

    def delete_dataset(self, request: Request, ds: str) -> Response:
        """``DELETE /api/datasets/{id}/``: the dataset and all its logs."""
        if not self.store.delete_dataset(canonical_id(ds, dashed=True)):
            raise not_found("Dataset")
        return Response(204)

    # dataset logs

    def create_log(self, request: Request, ds: str) -> Response:
        """``POST /api/datasets/{id}/logs/``: one log in the unified format."""
        dataset_id = self._dataset_id(ds)
        body = request.object()
        errors = validate_log(body)
        if errors:
            raise ApiError(400, "Invalid unified format data", errors=errors)
        unique_id = new_log_id()
        doc = build_log(body, unique_id=unique_id, dataset_id=dataset_id, received_at=now_iso())
        self.store.insert_logs([StoredLog(doc, dict(body))])
        return Response.json(
            201, {"message": "Dataset log created successfully", "unique_id": unique_id}
        )

    def bulk_create_logs(self, request: Request, ds: str) -> Response:
        """``POST /api/datasets/{id}/logs/bulk/``: 1-500 logs, partial success allowed."""
        dataset_id = self._dataset_id(ds)
        body = request.object()
        logs = body.get("logs")
        problem = None
        if not isinstance(logs, list):
            problem = (
                "This field is required: a list of logs." if logs is None else "Expected a list."
            )
        elif not logs:
            problem = "This list may not be empty."
        elif len(logs) > MAX_BULK_LOGS:
            problem = (
                f"Ensure this field has no more than {MAX_BULK_LOGS} elements (got {len(logs)})."
            )
        if problem is not None:
            raise ApiError(422, "Validation error", errors={"logs": [problem]})
        assert isinstance(logs, list)
        received_at = now_iso()
        created: list[StoredLog] = []
        failures: list[JSONObject] = []
        for index, item in enumerate(logs):
            errors = validate_log(item)
            if errors:
                failures.append({"index": index, "error": describe_errors(errors)})
                continue
            assert isinstance(item, Mapping)
            doc = build_log(
                item, unique_id=new_log_id(), dataset_id=dataset_id, received_at=received_at
            )
            created.append(StoredLog(doc, dict(item)))
        result: JSONObject = {
            "success_count": len(created),
            "error_count": len(failures),
            "errors": failures,
        }
        if not created:
            raise ApiError(400, "All logs failed validation", extra=result)
        self.store.insert_logs(created)
        return Response.json(201, result)

    def list_logs(self, request: Request, ds: str) -> Response:
        """``POST /api/datasets/{id}/logs/list/`` (or GET): a page of logs, or an export."""
        dataset_id = self._dataset_id(ds)
        params = self._list_params(request, default_sort="unique_id")
        body: Mapping[str, object] = request.object() if request.method == "POST" else {}
        exporting = body.get("is_exporting", request.query.get("is_exporting"))
        if _flag(exporting):
            return self._export(request, dataset_id, params, body)
        return self._paginate(
            request,
            params,
            lambda query: self.store.list_logs(dataset_id, query),
            extra={"filters_data": {}, "filter_options": {}},
        )

    def _export(
        self,
        request: Request,
        dataset_id: str,
        params: _ListParams,
        body: Mapping[str, object],
    ) -> Response:
        """Every matching log as CSV or JSON Lines, returned directly (not emailed)."""
        raw_format = body.get("export_format", request.query.get("export_format", ".csv"))
        if raw_format is None:
            raw_format = ".csv"
        if not isinstance(raw_format, str) or raw_format.lower() not in _EXPORT_TYPES:
            raise ApiError(
                400,
                "Validation error",
                errors={"export_format": ['Expected ".csv" or ".jsonl".']},
            )
        extension, content_type = _EXPORT_TYPES[raw_format.lower()]
        _, where, where_params = compile_filters(params.filters)
        path, descending = sort_path(params.sort_by)
        _, rows = self.store.list_logs(
            dataset_id,
            Query(where=where, params=where_params, sort_path=path, descending=descending),
        )
        if params.include_fields is not None:
            rows = [{k: row[k] for k in params.include_fields if k in row} for row in rows]
        if extension == ".jsonl":
            content = "".join(dumps(row) + "\n" for row in rows)
        else:
            content = _to_csv(rows, params.include_fields)
        raw_name = body.get("name", request.query.get("name"))
        name = (
            raw_name if isinstance(raw_name, str) and raw_name.strip() else f"dataset-{dataset_id}"
        )
        filename = re.sub(r"[^\w.\- ]", "_", name, flags=re.ASCII)
        if not filename.endswith(extension):
            filename += extension
        return Response(
            200,
            content.encode("utf-8"),
            content_type=content_type,
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    def _stored_log(self, ds: str, uid: str) -> tuple[str, str]:
        dataset_id = self._dataset_id(ds)
        return dataset_id, canonical_id(uid, dashed=False)

    def get_log(self, request: Request, ds: str, uid: str) -> Response:
        """``GET /api/datasets/{id}/logs/{unique_id}/``."""
        dataset_id, unique_id = self._stored_log(ds, uid)
        log = self.store.get_log(dataset_id, unique_id)
        if log is None:
            raise not_found("Log")
        return Response.json(200, log.doc)

    def _rewrite_log(self, request: Request, ds: str, uid: str, *, replace: bool) -> Response:
        dataset_id, unique_id = self._stored_log(ds, uid)
        patch = request.object()

        def change(old: StoredLog) -> StoredLog:
            source = dict(patch) if replace else {**old.source, **patch}
            errors = validate_log(source, require_input=not replace and "input" in patch)
            if errors:
                raise ApiError(400, "Invalid unified format data", errors=errors)
            doc = build_log(
                source,
                unique_id=unique_id,
                dataset_id=dataset_id,
                received_at=now_iso(),
                previous=old.doc,
            )
            return StoredLog(doc, source)

        updated = self.store.update_log(dataset_id, unique_id, change)
        if updated is None:
            raise not_found("Log")
        return Response.json(200, updated.doc)

    def update_log(self, request: Request, ds: str, uid: str) -> Response:
        """``PATCH``: only the fields sent change."""
        return self._rewrite_log(request, ds, uid, replace=False)

    def replace_log(self, request: Request, ds: str, uid: str) -> Response:
        """``PUT``: the body replaces the log; fields left out are removed."""
        return self._rewrite_log(request, ds, uid, replace=True)

    def delete_log(self, request: Request, ds: str, uid: str) -> Response:
        """``DELETE /api/datasets/{id}/logs/{unique_id}/``."""
        dataset_id, unique_id = self._stored_log(ds, uid)
        if not self.store.delete_log(dataset_id, unique_id):
            raise not_found("Log")
        return Response(204)

    # experiments

    def create_experiment(self, request: Request) -> Response:
        """``POST /api/v2/experiments/``: stored with status ``pending``; nothing runs."""
        body = request.object()
        errors = validate_experiment(body)
        if errors:
            raise ApiError(400, "Validation error", errors=errors)
        given = body.get("experiment_id")
        experiment_id = canonical_id(given, dashed=True) if isinstance(given, str) else new_uuid()
        dataset_raw = body.get("dataset_id")
        dataset = (
            self.store.get_dataset(canonical_id(dataset_raw, dashed=True))
            if isinstance(dataset_raw, str)
            else None
        )
        doc = build_experiment(
            body,
            experiment_id=experiment_id,
            dataset_name=str(dataset["name"]) if dataset is not None else None,
            now=now_iso(),
        )
        if not self.store.create_experiment(doc):
            raise ApiError(
                400,
                "Validation error",
                errors={"experiment_id": ["An experiment with this id already exists."]},
            )
        return Response.json(201, doc)

    def list_experiments(self, request: Request) -> Response:
        """``POST /api/v2/experiments/list/`` and ``GET /api/v2/experiments/``."""
        params = self._list_params(request, default_sort="-created_at")
        return self._paginate(request, params, self.store.list_experiments)

    def get_experiment(self, request: Request, exp: str) -> Response:
        """``GET /api/v2/experiments/{id}/``."""
        experiment = self.store.get_experiment(canonical_id(exp, dashed=True))
        if experiment is None:
            raise not_found("Experiment")
        return Response.json(200, experiment)

    def delete_experiment(self, request: Request, exp: str) -> Response:
        """``DELETE /api/v2/experiments/{id}/``."""
        if not self.store.delete_experiment(canonical_id(exp, dashed=True)):
            raise not_found("Experiment")
        return Response(204)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return dumps(value)


def _to_csv(rows: Sequence[JSONObject], include: list[str] | None) -> str:
    columns: list[str] = list(include) if include is not None else []
    if include is None:
        seen: set[str] = set()
        for row in rows:
            for key in row:
                if key not in seen:
                    seen.add(key)
                    columns.append(key)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in columns])
    return out.getvalue()
