"""The viewer's read endpoints (``/ui/api/...``): each one or a few calls into the REST
:class:`Api`, so the viewer's filters, sorting and paging are exactly the API's."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import quote, unquote

from respan_otel import _tracetree as tracetree
from respan_otel._datasets import dataset_id_of, is_dataset_id
from respan_otel._version import __version__
from respan_otel.local._api import Api, Request
from respan_otel.local._common import ApiError, dumps, loads, not_found
from respan_otel.local._store import Query
from respan_otel.local._store_core import TRACE_ID_SQL

PAGE_SIZE: Final = 50
PREVIEW_CHARS: Final = 160
"""Input and output are cut to this many characters in the logs table."""

_TABLE_FIELDS: Final = (
    "unique_id,timestamp,start_time,log_type,status,status_code,model,prompt_tokens,"
    "completion_tokens,total_request_tokens,cost,latency,input,output,metadata,metrics,scores"
)
_SCORE_VALUES: Final = ("numerical_value", "boolean_value", "string_value", "categorical_value")
_FILTER_FIELDS: Final[Mapping[str, str]] = {
    "status": "status",
    "type": "log_type",
    "model": "model",
}
_SEARCH_FIELDS: Final = frozenset({"input", "output", "metadata"})


def _number(raw: str | None, default: int, *, low: int, high: int) -> int:
    if raw is None or not re.fullmatch(r"\d{1,9}", raw.strip()):
        return default
    return max(low, min(high, int(raw)))


def _preview(value: object) -> str:
    text = value if isinstance(value, str) else "" if value is None else dumps(value)
    text = " ".join(text.split())
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


def _score_value(score: object) -> object:
    """A score's value, from Respan's score object or a bare value."""
    if isinstance(score, Mapping):
        return next((score[k] for k in _SCORE_VALUES if score.get(k) is not None), None)
    return score


def scores_of(log: Mapping[str, Any]) -> dict[str, object]:
    """A row's scores by name: Respan's ``scores`` (an object, or a list of score objects),
    and the scores ``run_experiment`` keeps in ``metrics`` (named in ``score_kinds``)."""
    found: dict[str, object] = {}
    raw = log.get("scores")
    items = raw.items() if isinstance(raw, Mapping) else []
    if isinstance(raw, list):
        items = [
            (s.get("evaluator_id") or s.get("evaluator_slug"), s)
            for s in raw
            if isinstance(s, Mapping)
        ]
    for name, score in items:
        found[str(name)] = _score_value(score)
    metadata, metrics = log.get("metadata"), log.get("metrics")
    kinds = metadata.get("score_kinds") if isinstance(metadata, Mapping) else None
    if isinstance(kinds, Mapping) and isinstance(metrics, Mapping):
        found.update((str(k), metrics[k]) for k in kinds if k in metrics)
    return found


def _row(log: Mapping[str, Any]) -> dict[str, object]:
    """A log as one line of the table: the columns people scan, content cut short."""
    metadata = log.get("metadata")
    meta = metadata if isinstance(metadata, Mapping) else {}
    tokens = log.get("total_request_tokens")
    return {
        "id": log.get("unique_id"),
        "timestamp": log.get("timestamp"),
        "name": meta.get("span_name") or "",
        "type": log.get("log_type") or meta.get("log_type") or "",
        "status": log.get("status"),
        "model": log.get("model") or "",
        "tokens": tokens,
        "cost": log.get("cost"),
        "latency": log.get("latency"),
        "input": _preview(log.get("input")),
        "output": _preview(log.get("output")),
        "scores": scores_of(log),
    }


def _paging(found: Mapping[str, Any], page: int, size: int) -> dict[str, int]:
    count = int(found["count"])
    return {"count": count, "page": page, "pages": max(1, -(-count // size))}


class Reader:
    """The viewer's read endpoints, each one or a few calls into the REST :class:`Api`."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self._routes: list[tuple[re.Pattern[str], Callable[..., object]]] = [
            (re.compile(r"^/ui/api/session$"), self.session),
            (re.compile(r"^/ui/api/datasets$"), self.datasets),
            (re.compile(r"^/ui/api/datasets/(?P<ds>[^/]+)$"), self.dataset),
            (re.compile(r"^/ui/api/datasets/(?P<ds>[^/]+)/logs$"), self.logs),
            (re.compile(r"^/ui/api/datasets/(?P<ds>[^/]+)/logs/(?P<uid>[^/]+)$"), self.log),
            (re.compile(r"^/ui/api/experiments$"), self.experiments),
            (re.compile(r"^/ui/api/experiments/(?P<exp>[^/]+)$"), self.experiment),
        ]

    def route(self, path: str, query: Mapping[str, str]) -> object:
        for pattern, handler in self._routes:
            found = pattern.match(path)
            if found is not None:
                return handler(query, **{k: unquote(v) for k, v in found.groupdict().items()})
        raise ApiError(404, "Not found.")

    def _call(
        self, method: str, path: str, query: Mapping[str, str] | None = None, body: object = None
    ) -> Any:
        request = Request(
            method=method,
            path=path,
            query=dict(query or {}),
            body=b"" if body is None else dumps(body).encode("utf-8"),
            origin="",
        )
        response = self.api.handle(request)
        payload = loads(response.body) if response.body else None
        if response.status >= 400:
            detail = payload.get("detail") if isinstance(payload, dict) else None
            raise ApiError(response.status, str(detail or "Request failed."))
        return payload

    def _page(self, path: str, params: Mapping[str, str], body: object) -> Any:
        """A page of a list endpoint; past the last page, an empty page (not an error)."""
        try:
            return self._call("POST", path, params, body)
        except ApiError as error:
            if error.status != 404 or error.detail != "Invalid page.":
                raise
            return {"count": 0, "results": []}

    def _dataset_id(self, ds: str) -> str:
        """A dataset id from an id or a name (names are looked up, as the CLI does)."""
        if is_dataset_id(ds):
            return dataset_id_of(ds)
        found = self._call(
            "POST",
            "/api/datasets/list/",
            {"page_size": "100"},
            {"filters": {"name": {"operator": "", "value": [ds]}}},
        )
        for dataset in found.get("results", []):
            if dataset.get("name") == ds:
                return str(dataset["id"])
        raise not_found("Dataset")

    def session(self, query: Mapping[str, str]) -> object:
        return {"signed_in": True, "version": __version__}

    def datasets(self, query: Mapping[str, str]) -> object:
        page = _number(query.get("page"), 1, low=1, high=10**9)
        found = self._call("GET", "/api/datasets/", {"page": str(page), "page_size": "100"})
        keep = ("id", "name", "description", "log_count", "created_at", "updated_at")
        return {
            "count": found["count"],
            "page": page,
            "pages": max(1, -(-int(found["count"]) // 100)),
            "results": [{k: d.get(k) for k in keep} for d in found["results"]],
        }

    def dataset(self, query: Mapping[str, str], ds: str) -> object:
        return self._call("GET", f"/api/datasets/{quote(self._dataset_id(ds), safe='')}/")

    def logs(self, query: Mapping[str, str], ds: str) -> object:
        """One page of a dataset's logs, newest first, filtered with the API's filters."""
        dataset_id = self._dataset_id(ds)
        page = _number(query.get("page"), 1, low=1, high=10**9)
        size = _number(query.get("page_size"), PAGE_SIZE, low=1, high=100)
        filters: dict[str, object] = {}
        for param, field in _FILTER_FIELDS.items():
            if query.get(param, "").strip():
                filters[field] = {"operator": "", "value": [query[param].strip()]}
        text = query.get("q", "").strip()
        where = query.get("in", "input")
        if text:
            if where not in _SEARCH_FIELDS:
                raise ApiError(400, f"Search in one of {', '.join(sorted(_SEARCH_FIELDS))}.")
            filters[where] = {"operator": "icontains", "value": [text]}
        sort = query.get("sort") or "-timestamp"
        params = {"page": str(page), "page_size": str(size), "sort_by": sort}
        params["include_fields"] = _TABLE_FIELDS
        found = self._page(
            f"/api/datasets/{quote(dataset_id, safe='')}/logs/list/", params, {"filters": filters}
        )
        return {
            "dataset_id": dataset_id,
            **_paging(found, page, size),
            "page_size": size,
            "filters": filters,
            "results": [_row(log) for log in found["results"]],
        }

    def log(self, query: Mapping[str, str], ds: str, uid: str) -> object:
        """One log in full and the trace it belongs to, as rows with timing bars."""
        dataset_id = quote(self._dataset_id(ds), safe="")
        log = self._call("GET", f"/api/datasets/{dataset_id}/logs/{quote(uid, safe='')}/")
        return {"log": log, "trace": self._trace(log)}

    def _trace_logs(self, log: Mapping[str, Any]) -> list[Mapping[str, Any]] | None:
        """The logs of ``log``'s trace (``None`` when it names none)."""
        filters = tracetree.trace_filter_for(log)
        if filters is None:
            return None
        dataset_id = str(log.get("dataset_id"))
        if "metadata__trace_id" in filters:  # this library's logs: found through an index
            where = Query(
                where=f"{TRACE_ID_SQL} = ?",
                params=(tracetree.trace_id_of(log),),
                sort_path='$."start_time"',
                limit=tracetree.MAX_TRACE_LOGS,
            )
            return list(self.api.store.list_logs(dataset_id, where)[1])
        logs: list[Mapping[str, Any]] = []
        page = 1
        while len(logs) < tracetree.MAX_TRACE_LOGS:
            found = self._call(
                "POST",
                f"/api/datasets/{quote(dataset_id, safe='')}/logs/list/",
                {"page": str(page), "page_size": "100", "sort_by": "start_time"},
                {"filters": filters},
            )
            logs.extend(found["results"])
            if not found.get("next"):
                break
            page += 1
        return logs

    def _trace(self, log: Mapping[str, Any]) -> object:
        logs = self._trace_logs(log)
        if logs is None:
            return None
        roots = tracetree.build_tree(logs)
        bounds = tracetree.span_of(roots)
        origin, total = (bounds[0], bounds[1] - bounds[0]) if bounds else (0.0, 0.0)
        nodes = []
        for node in tracetree.walk(roots):
            offset = None if node.start is None or bounds is None else node.start - origin
            nodes.append(
                {
                    "id": node.log_id,
                    "name": node.name,
                    "type": node.log.get("log_type") or "",
                    "status": "error" if node.failed else "ok",
                    "depth": node.depth,
                    "offset": offset,
                    "duration": node.duration,
                    "current": node.log_id == log.get("unique_id"),
                }
            )
        return {"trace_id": tracetree.trace_id_of(log), "total": total, "nodes": nodes}

    def experiments(self, query: Mapping[str, str]) -> object:
        page = _number(query.get("page"), 1, low=1, high=10**9)
        found = self._call("GET", "/api/v2/experiments/", {"page": str(page), "page_size": "100"})
        return {"count": found["count"], "page": page, "results": found["results"]}

    def experiment(self, query: Mapping[str, str], exp: str) -> object:
        """An experiment, the means of its scores, and one page of its rows with theirs."""
        path = f"/api/v2/experiments/{quote(exp, safe='')}/"
        experiment = self._call("GET", path)
        page = _number(query.get("page"), 1, low=1, high=10**9)
        params = {"page": str(page), "page_size": str(PAGE_SIZE)}
        found = self._page(path + "logs/list/", params, {})
        summary = self._call("POST", path + "logs/summary/", None, {})
        means = {
            str(name): score.get("avg_score")
            for name, score in (summary.get("scores") or {}).items()
            if isinstance(score, Mapping)
        }
        rows = [
            {
                "id": log.get("id"),
                "status": log.get("status"),
                "input": _preview(log.get("input")),
                "output": _preview(log.get("output")),
                "expected": _preview(log.get("expected_output")),
                "duration": log.get("duration"),
                "cost": log.get("total_cost"),
                "error": log.get("error_message"),
                "scores": scores_of(log),
            }
            for log in found["results"]
        ]
        return {
            "experiment": experiment,
            "means": means,
            **_paging(found, page, PAGE_SIZE),
            "results": rows,
        }
