"""``RespanClient``: the Respan datasets and experiments API over HTTP.

::

    from respan_otel import RespanClient

    with RespanClient() as client:  # RESPAN_API_KEY, RESPAN_BASE_URL from the environment
        ds = client.datasets.get_or_create("support-evals")
        client.datasets.logs.create(ds.id, {"question": "hi"}, {"answer": "hello"})
        for log in client.datasets.logs.iter(ds.id, filters={"metadata__model": {
                "operator": "eq", "value": ["gpt-4o"]}}):
            print(log.input, log.output)

The transport (pooling, auth, retries, errors) is in :mod:`respan_otel.client._transport`, result
types in :mod:`respan_otel.client._types`, exceptions in :mod:`respan_otel.client._errors`.

Retries: reads and idempotent writes (GET, PUT, PATCH, DELETE and the POST ``.../list/``
endpoints) are retried on 408, 429, 5xx, connection errors and timeouts, up to
``max_retries`` times, with exponential backoff and jitter that never waits less than the
server's ``retry_after`` / ``Retry-After`` and never more than 60 s per wait (a server
asking for more than that gets the error raised at once). Creating POSTs (dataset, log,
bulk, experiment) are not retried, since a lost reply would mean a duplicate, unless the
call passes ``retry=True`` or the client was built with ``retry_creates=True``.

Thread safety: one client may be shared by any number of threads; calls are independent
and draw connections from one pool. After ``os.fork()`` the child gets a fresh pool.
"""

from __future__ import annotations

import builtins
import csv
import io
import json
import math
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Final, Literal
from urllib.parse import quote

from respan_otel._settings import DEFAULT_BASE_URL, ENV_API_KEY, ENV_BASE_URL
from respan_otel._unset import UNSET
from respan_otel.client._errors import RespanError, ValidationError
from respan_otel.client._filters import Filters, normalize_filters
from respan_otel.client._transport import (
    DEFAULT_BACKOFF_BASE,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    MAX_RETRY_WAIT,
    HTTPTransport,
    normalize_base_url,
)
from respan_otel.client._types import (
    BulkError,
    BulkResult,
    CreatedLog,
    Dataset,
    DatasetLog,
    Experiment,
    LogPage,
)

__all__ = [
    "BULK_MAX_LOGS",
    "MAX_PAGE_SIZE",
    "DatasetLogs",
    "Datasets",
    "Experiments",
    "RespanClient",
]

BULK_MAX_LOGS: Final = 500
"""Most logs the bulk endpoint takes in one request; ``bulk_create`` chunks to this."""
MAX_PAGE_SIZE: Final = 100
"""Largest ``page_size`` the list endpoints accept."""


def _segment(name: str, value: object) -> str:
    """One URL path segment from an id, quoted; the error names the argument."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return quote(value, safe="")


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


class DatasetLogs(_Resource):
    """The rows of datasets: ``client.datasets.logs``."""

    __slots__ = ()

    def create(
        self,
        dataset_id: str,
        input: Any,
        output: Any = UNSET,
        *,
        metadata: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
        expected_output: Any = UNSET,
        retry: bool | None = None,
        **fields: Any,
    ) -> CreatedLog:
        """Add one log. ``fields`` are sent as top-level log fields (``model=``, ...).

        ``output`` may be left out (only ``input`` is required). Not retried unless
        ``retry=True``: a lost reply would otherwise mean a duplicate row.
        """
        path = f"/api/datasets/{_segment('dataset_id', dataset_id)}/logs/"
        body = _log_body(input, output, expected_output, metadata, metrics, fields)
        answer = self._http.request("POST", path, body=body, idempotent=False, retry=retry)
        return CreatedLog.from_api(_object(answer, "POST", path))

    def bulk_create(
        self,
        dataset_id: str,
        logs: Iterable[Mapping[str, Any]],
        *,
        chunk_size: int = BULK_MAX_LOGS,
        retry: bool | None = None,
    ) -> BulkResult:
        """Add many logs, ``chunk_size`` (at most 500) per request, in order.

        Returns one :class:`BulkResult` for all requests; each error's ``index`` is the
        position in ``logs``. A chunk that the server refuses whole with per-item errors
        (its 400 "every item failed") is counted as failed items and the next chunk is
        still sent. Any other error stops the run and is raised, with ``bulk_result``
        set to what the earlier chunks achieved. Not retried unless ``retry=True``.
        """
        dataset_path = f"/api/datasets/{_segment('dataset_id', dataset_id)}/logs/bulk/"
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int):
            raise ValueError(f"chunk_size must be an integer, got {chunk_size!r}")
        if not 1 <= chunk_size <= BULK_MAX_LOGS:
            raise ValueError(f"chunk_size must be from 1 to {BULK_MAX_LOGS}, got {chunk_size}")
        items = builtins.list(logs)
        for index, item in enumerate(items):
            if not isinstance(item, Mapping):
                raise TypeError(f"logs[{index}] must be a dict, got {type(item).__name__}")
        success = failed = requests_sent = 0
        errors: builtins.list[BulkError] = []
        bodies: builtins.list[Mapping[str, Any]] = []
        for offset in range(0, len(items), chunk_size):
            chunk = [dict(item) for item in items[offset : offset + chunk_size]]
            try:
                answer = self._http.request(
                    "POST", dataset_path, body={"logs": chunk}, idempotent=False, retry=retry
                )
            except ValidationError as exc:
                if not _all_items_failed(exc):
                    exc.bulk_result = _bulk(success, failed, errors, requests_sent + 1, bodies)
                    raise
                answer = exc.body
            except RespanError as exc:
                exc.bulk_result = _bulk(success, failed, errors, requests_sent + 1, bodies)
                raise
            requests_sent += 1
            body = _object(answer, "POST", dataset_path)
            bodies.append(body)
            chunk_errors = _chunk_errors(body.get("errors"), offset, len(chunk))
            error_count = body.get("error_count")
            if isinstance(error_count, bool) or not isinstance(error_count, int):
                error_count = len(chunk_errors)
            success_count = body.get("success_count")
            if isinstance(success_count, bool) or not isinstance(success_count, int):
                success_count = len(chunk) - error_count
            success += success_count
            failed += error_count
            errors.extend(chunk_errors)
        return _bulk(success, failed, errors, requests_sent, bodies)

    def list(
        self,
        dataset_id: str,
        *,
        filters: Mapping[str, object] | None = None,
        page: int = 1,
        page_size: int | None = None,
        sort_by: str | None = None,
        include_fields: str | Sequence[str] | None = None,
    ) -> LogPage:
        """One page of a dataset's logs (``page_size`` at most 100; server default 25).

        ``filters`` use the API's own form, ``{"field": {"operator": "gte", "value":
        [...]}}``, with ``metadata__<key>`` for metadata; they are validated before the
        request. ``sort_by`` takes a ``-`` prefix for descending order.
        """
        path = f"/api/datasets/{_segment('dataset_id', dataset_id)}/logs/list/"
        params = {
            "page": _page(page),
            "page_size": _page_size(page_size),
            "sort_by": _sort_by(sort_by),
            "include_fields": _fields_param(include_fields),
        }
        normalized = _filters("filters", filters)
        body: dict[str, Any] = {} if normalized is None else {"filters": normalized}
        answer = self._http.request("POST", path, params=params, body=body, idempotent=True)
        return LogPage.from_api(_object(answer, "POST", path))

    def iter(
        self,
        dataset_id: str,
        *,
        filters: Mapping[str, object] | None = None,
        page_size: int = MAX_PAGE_SIZE,
        sort_by: str | None = None,
        include_fields: str | Sequence[str] | None = None,
    ) -> Iterator[DatasetLog]:
        """Every matching log, fetching one page at a time as the iteration goes.

        Arguments are checked at once, before the first page is requested.
        """
        _segment("dataset_id", dataset_id)
        _page_size(page_size)
        _sort_by(sort_by)
        _fields_param(include_fields)
        _filters("filters", filters)
        return self._iter(dataset_id, filters, page_size, sort_by, include_fields)

    def _iter(
        self,
        dataset_id: str,
        filters: Mapping[str, object] | None,
        page_size: int,
        sort_by: str | None,
        include_fields: str | Sequence[str] | None,
    ) -> Iterator[DatasetLog]:
        page = 1
        while True:
            result = self.list(
                dataset_id,
                filters=filters,
                page=page,
                page_size=page_size,
                sort_by=sort_by,
                include_fields=include_fields,
            )
            yield from result.results
            if not result.next or not result.results:
                return
            page += 1

    def get(self, dataset_id: str, log_id: str) -> DatasetLog:
        """One log by its id (``unique_id``)."""
        path = self._log_path(dataset_id, log_id)
        return DatasetLog.from_api(
            _object(self._http.request("GET", path, idempotent=True), "GET", path)
        )

    def update(
        self,
        dataset_id: str,
        log_id: str,
        *,
        input: Any = UNSET,
        output: Any = UNSET,
        expected_output: Any = UNSET,
        metadata: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> DatasetLog:
        """Change only the fields given (PATCH) and return the log as it now is."""
        body = _log_body(input, output, expected_output, metadata, metrics, fields)
        if not body:
            raise ValueError("update() needs at least one field to change")
        path = self._log_path(dataset_id, log_id)
        answer = self._http.request("PATCH", path, body=body, idempotent=True)
        return DatasetLog.from_api(_object(answer, "PATCH", path))

    def replace(
        self,
        dataset_id: str,
        log_id: str,
        input: Any,
        output: Any = UNSET,
        *,
        expected_output: Any = UNSET,
        metadata: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> DatasetLog:
        """Replace the whole log (PUT): fields not given are removed."""
        body = _log_body(input, output, expected_output, metadata, metrics, fields)
        path = self._log_path(dataset_id, log_id)
        answer = self._http.request("PUT", path, body=body, idempotent=True)
        return DatasetLog.from_api(_object(answer, "PUT", path))

    def delete(self, dataset_id: str, log_id: str) -> None:
        """Remove one log."""
        self._http.request("DELETE", self._log_path(dataset_id, log_id), idempotent=True)

    def export(
        self,
        dataset_id: str,
        format: Literal["jsonl", "csv"] = "jsonl",
        *,
        filters: Mapping[str, object] | None = None,
        sort_by: str | None = None,
    ) -> str:
        """Every matching log as JSON Lines or CSV text, built from the list endpoint.

        Respan's own export (``is_exporting``) runs asynchronously and is e-mailed, so
        this walks the pages instead. JSONL keeps each log exactly as the server sent it;
        CSV has one column per field seen, nested values as JSON.
        """
        if format not in ("jsonl", "csv"):
            raise ValueError(f"format must be 'jsonl' or 'csv', not {format!r}")
        rows = [dict(log.raw) for log in self.iter(dataset_id, filters=filters, sort_by=sort_by)]
        if format == "jsonl":
            return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        columns: dict[str, None] = {}
        for row in rows:
            columns.update(dict.fromkeys(row))
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(_csv_cell(row.get(column)) for column in columns)
        return out.getvalue()

    @staticmethod
    def _log_path(dataset_id: str, log_id: str) -> str:
        return (
            f"/api/datasets/{_segment('dataset_id', dataset_id)}/logs/{_segment('log_id', log_id)}/"
        )


class Datasets(_Resource):
    """Datasets: ``client.datasets``; their rows are ``client.datasets.logs``."""

    __slots__ = ("_get_or_create_lock", "logs")

    def __init__(self, transport: HTTPTransport) -> None:
        super().__init__(transport)
        self.logs = DatasetLogs(transport)
        self._get_or_create_lock = threading.Lock()
        transport.on_fork(self._renew_lock)

    def _renew_lock(self) -> None:
        self._get_or_create_lock = threading.Lock()

    def create(
        self,
        *,
        name: str | None = None,
        description: str | None = None,
        is_empty: bool | None = None,
        sampling: int | None = None,
        start_time: datetime | str | None = None,
        end_time: datetime | str | None = None,
        initial_log_filters: Mapping[str, object] | None = None,
        source_dataset_id: str | None = None,
        granularity: Literal["logs", "traces"] | None = None,
        retry: bool | None = None,
    ) -> Dataset:
        """Create a dataset: empty, sampled from existing logs, or copied from another.

        ``is_empty`` defaults to true when neither a time range, ``initial_log_filters``
        nor ``source_dataset_id`` is given, so ``create(name="x")`` makes an empty
        dataset. Not retried unless ``retry=True``.
        """
        if name is None and source_dataset_id is None:
            raise ValueError("create() needs name= (or source_dataset_id= to copy a dataset)")
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise ValueError(f"name must be a non-empty string, got {name!r}")
        if sampling is not None and (
            isinstance(sampling, bool) or not isinstance(sampling, int) or not 1 <= sampling <= 100
        ):
            raise ValueError(f"sampling must be a percentage from 1 to 100, got {sampling!r}")
        if granularity is not None and granularity not in ("logs", "traces"):
            raise ValueError(f"granularity must be 'logs' or 'traces', not {granularity!r}")
        if source_dataset_id is not None:
            _segment("source_dataset_id", source_dataset_id)
        filters = _filters("initial_log_filters", initial_log_filters)
        if is_empty is None:
            sourced = (start_time, end_time, filters, source_dataset_id, sampling)
            is_empty = all(value is None for value in sourced)
        body: dict[str, Any] = {"is_empty": is_empty}
        optional = {
            "name": name,
            "description": description,
            "sampling": sampling,
            "start_time": start_time,
            "end_time": end_time,
            "initial_log_filters": filters,
            "source_dataset_id": source_dataset_id,
            "granularity": granularity,
        }
        body.update({key: value for key, value in optional.items() if value is not None})
        answer = self._http.request(
            "POST", "/api/datasets/", body=body, idempotent=False, retry=retry
        )
        return Dataset.from_api(_object(answer, "POST", "/api/datasets/"))

    def list(
        self,
        *,
        filters: Mapping[str, object] | None = None,
        page_size: int = MAX_PAGE_SIZE,
        sort_by: str | None = None,
    ) -> Iterator[Dataset]:
        """Every dataset (matching ``filters``), fetching pages lazily as iteration goes."""
        items = self._list_all("/api/datasets/list/", filters, page_size, sort_by)
        return (Dataset.from_api(item) for item in items)

    def get(self, dataset_id: str) -> Dataset:
        """One dataset by id."""
        path = f"/api/datasets/{_segment('dataset_id', dataset_id)}/"
        return Dataset.from_api(
            _object(self._http.request("GET", path, idempotent=True), "GET", path)
        )

    def update(
        self,
        dataset_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        starred: bool | None = None,
        tags: Sequence[str] | None = None,
        **fields: Any,
    ) -> Dataset:
        """Change the fields given (PATCH). ``tags`` replaces the whole set of tag ids."""
        path = f"/api/datasets/{_segment('dataset_id', dataset_id)}/"
        given = {"name": name, "description": description, "starred": starred}
        body: dict[str, Any] = {key: value for key, value in given.items() if value is not None}
        if tags is not None:
            body["tags"] = builtins.list(tags)
        body.update(fields)
        if not body:
            raise ValueError("update() needs at least one field to change")
        answer = self._http.request("PATCH", path, body=body, idempotent=True)
        return Dataset.from_api(_object(answer, "PATCH", path))

    def delete(self, dataset_id: str) -> None:
        """Delete a dataset and every log in it."""
        path = f"/api/datasets/{_segment('dataset_id', dataset_id)}/"
        self._http.request("DELETE", path, idempotent=True)

    def get_or_create(self, name: str, *, description: str | None = None) -> Dataset:
        """The dataset called ``name``, created empty when there is none.

        Looks it up through the list endpoint with a name filter (scanning every dataset
        when the server refuses that filter). Calls from threads of one client are
        serialised, so they create it once; separate processes can still race and make
        two, since the API has no unique name constraint.
        """
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"name must be a non-empty string, got {name!r}")
        with self._get_or_create_lock:
            try:
                found = self._find(name, {"name": {"operator": "eq", "value": [name]}})
            except ValidationError:
                found = self._find(name, None)
            if found is not None:
                return found
            return self.create(name=name, description=description, is_empty=True)

    def _find(self, name: str, filters: Mapping[str, object] | None) -> Dataset | None:
        for dataset in self.list(filters=filters):
            if dataset.name == name:
                return dataset
        return None


class Experiments(_Resource):
    """Experiments over a dataset: ``client.experiments``."""

    __slots__ = ()

    def create(
        self,
        *,
        dataset_id: str,
        workflow: Sequence[Mapping[str, Any]],
        evaluator_ids: Sequence[str] | None = None,
        evaluator_slugs: Sequence[str] | None = None,
        evaluator_workflow_ids: Sequence[str] | None = None,
        name: str | None = None,
        description: str | None = None,
        experiment_id: str | None = None,
        span_workflow_name: str | None = None,
        enable_tracing: bool | None = None,
        batch_size: int | None = None,
        concurrency: int | None = None,
        generation_method: str | None = None,
        retry: bool | None = None,
        **fields: Any,
    ) -> Experiment:
        """Create (and, on Respan, start) an experiment.

        Exactly one scoring path is required: ``evaluator_ids`` (or its older alias
        ``evaluator_slugs``), or ``evaluator_workflow_ids``. Checked before any request.
        Not retried unless ``retry=True``.
        """
        _segment("dataset_id", dataset_id)
        steps = builtins.list(workflow) if not isinstance(workflow, (str, bytes)) else []
        if not steps or not all(isinstance(step, Mapping) for step in steps):
            raise ValueError(
                "workflow must be a non-empty list of steps like "
                '{"type": "completion", "config": {...}}'
            )
        by_evaluator = evaluator_ids is not None or evaluator_slugs is not None
        by_workflow = evaluator_workflow_ids is not None
        if by_evaluator == by_workflow:
            raise ValueError(
                "give exactly one scoring path: evaluator_ids= (or evaluator_slugs=) "
                "or evaluator_workflow_ids=, " + ("not both" if by_evaluator else "none was given")
            )
        body: dict[str, Any] = {"dataset_id": dataset_id, "workflow": [dict(s) for s in steps]}
        for key, ids in (
            ("evaluator_ids", evaluator_ids),
            ("evaluator_slugs", evaluator_slugs),
            ("evaluator_workflow_ids", evaluator_workflow_ids),
        ):
            if ids is None:
                continue
            values = builtins.list(ids) if not isinstance(ids, str) else [ids]
            if not values or not all(isinstance(v, str) and v for v in values):
                raise ValueError(f"{key} must be a non-empty list of strings")
            body[key] = values
        for key, count in (("batch_size", batch_size), ("concurrency", concurrency)):
            if count is not None and (
                isinstance(count, bool) or not isinstance(count, int) or count < 1
            ):
                raise ValueError(f"{key} must be a positive integer, got {count!r}")
        optional = {
            "name": name,
            "description": description,
            "experiment_id": experiment_id,
            "span_workflow_name": span_workflow_name,
            "enable_tracing": enable_tracing,
            "batch_size": batch_size,
            "concurrency": concurrency,
            "generation_method": generation_method,
        }
        body.update({key: value for key, value in optional.items() if value is not None})
        body.update(fields)
        path = "/api/v2/experiments/"
        answer = self._http.request("POST", path, body=body, idempotent=False, retry=retry)
        return Experiment.from_api(_object(answer, "POST", path))

    def get(self, experiment_id: str) -> Experiment:
        """One experiment by id."""
        path = f"/api/v2/experiments/{_segment('experiment_id', experiment_id)}/"
        return Experiment.from_api(
            _object(self._http.request("GET", path, idempotent=True), "GET", path)
        )

    def list(
        self,
        *,
        filters: Mapping[str, object] | None = None,
        page_size: int = MAX_PAGE_SIZE,
        sort_by: str | None = None,
    ) -> Iterator[Experiment]:
        """Every experiment (matching ``filters``), fetching pages lazily."""
        items = self._list_all("/api/v2/experiments/list/", filters, page_size, sort_by)
        return (Experiment.from_api(item) for item in items)


class RespanClient:
    """Client for the Respan datasets and experiments API.

    ``api_key`` falls back to ``RESPAN_API_KEY`` and is required. ``base_url`` falls
    back to ``RESPAN_BASE_URL``, then ``https://api.respan.ai``; it is accepted with or
    without a trailing ``/api`` or slash. ``timeout`` (seconds, per connect and per read)
    and ``max_retries`` apply to every call; see the module docstring for which calls are
    retried. ``retry_creates=True`` retries creating POSTs too (risking duplicates when a
    reply is lost). ``verify`` is passed to requests (a CA bundle path, or ``False`` to
    turn TLS verification off). Plain ``http://`` is accepted for loopback hosts only,
    unless ``allow_insecure_http=True``.

    ``_backoff_base`` (default 0.5 s) and ``_max_retry_wait`` (default 60 s) tune the
    retry waits; they exist for tests and are not a stable interface.

    Use as a context manager, or call :meth:`close`, to release pooled connections.
    """

    datasets: Datasets
    experiments: Experiments

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        retry_creates: bool = False,
        verify: bool | str = True,
        allow_insecure_http: bool = False,
        _backoff_base: float = DEFAULT_BACKOFF_BASE,
        _max_retry_wait: float = MAX_RETRY_WAIT,
    ) -> None:
        key = api_key if api_key is not None else os.environ.get(ENV_API_KEY)
        if not isinstance(key, str) or not key.strip():
            raise RespanError(
                f"no Respan API key: pass api_key= or set the {ENV_API_KEY} environment variable"
            )
        key = key.strip()
        if any(ch.isspace() for ch in key) or not key.isprintable():
            raise ValueError("api_key must not contain whitespace or control characters")
        url = base_url if base_url is not None else os.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL
        try:
            root = normalize_base_url(url, allow_insecure_http=allow_insecure_http)
        except ValueError as exc:
            source = "base_url" if base_url is not None else f"base_url (from {ENV_BASE_URL})"
            message = str(exc)
            if base_url is None and message.startswith("base_url"):
                message = source + message[len("base_url") :]
            raise ValueError(message) from None
        _positive("timeout", timeout)
        _positive("_backoff_base", _backoff_base)
        _positive("_max_retry_wait", _max_retry_wait)
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(f"max_retries must be an integer >= 0, got {max_retries!r}")
        if not isinstance(verify, (bool, str)):
            raise ValueError("verify must be True, False or a path to a CA bundle")
        self._http = HTTPTransport(
            api_key=key,
            base_url=root,
            timeout=float(timeout),
            max_retries=max_retries,
            retry_creates=bool(retry_creates),
            verify=verify,
            backoff_base=float(_backoff_base),
            max_retry_wait=float(_max_retry_wait),
        )
        self.datasets = Datasets(self._http)
        self.experiments = Experiments(self._http)

    @property
    def base_url(self) -> str:
        """The API root in use, without ``/api`` (paths are ``/api/...`` under it)."""
        return self._http.root_url

    @property
    def timeout(self) -> float:
        """Seconds allowed to connect, and then for each read."""
        return self._http.timeout

    @property
    def max_retries(self) -> int:
        """Retries after the first attempt, for calls that may be retried."""
        return self._http.max_retries

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._http.closed

    def close(self) -> None:
        """Release the pooled connections. Idempotent; later calls raise ``RuntimeError``."""
        self._http.close()

    def __enter__(self) -> RespanClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RespanClient(base_url={self.base_url!r})"


def _positive(name: str, value: object) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{name} must be a number of seconds > 0, got {value!r}")


def _log_body(
    input: Any,
    output: Any,
    expected_output: Any,
    metadata: Mapping[str, Any] | None,
    metrics: Mapping[str, Any] | None,
    fields: Mapping[str, Any],
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for key, value in (("input", input), ("output", output), ("expected_output", expected_output)):
        if value is not UNSET:
            body[key] = value
    for key, mapping in (("metadata", metadata), ("metrics", metrics)):
        if mapping is None:
            continue
        if not isinstance(mapping, Mapping):
            raise ValueError(f"{key} must be a dict, got {type(mapping).__name__}")
        body[key] = dict(mapping)
    body.update(fields)
    return body


def _all_items_failed(exc: ValidationError) -> bool:
    """Whether a bulk 400 is the API's "every item failed" answer, with per-item errors."""
    body = exc.body
    return (
        exc.status_code == 400
        and isinstance(body, Mapping)
        and isinstance(body.get("errors"), builtins.list)
        and all(isinstance(item, Mapping) and "index" in item for item in body["errors"])
        and bool(body["errors"])
    )


def _chunk_errors(raw: object, offset: int, size: int) -> builtins.list[BulkError]:
    """A chunk's ``[{index, error}]`` with indices moved into the caller's list."""
    if not isinstance(raw, builtins.list):
        return []
    out = []
    for item in raw:
        if not isinstance(item, Mapping):
            continue
        index = item.get("index")
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < size:
            out.append(BulkError(index=-1, error=dict(item)))
        else:
            out.append(BulkError(index=offset + index, error=item.get("error")))
    return out


def _bulk(
    success: int,
    failed: int,
    errors: builtins.list[BulkError],
    requests_sent: int,
    bodies: builtins.list[Mapping[str, Any]],
) -> BulkResult:
    return BulkResult(
        success_count=success,
        error_count=failed,
        errors=sorted(errors, key=lambda error: error.index),
        requests=requests_sent,
        raw=tuple(bodies),
    )


def _csv_cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, (dict, builtins.list)):
        return json.dumps(value, ensure_ascii=False)
    return value
