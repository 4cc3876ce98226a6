"""``client.datasets.logs``: the rows of datasets."""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from respan_otel.client._csv import to_csv
from respan_otel.client._errors import RespanError, ValidationError
from respan_otel.client._export import ExportRows, export_rows, jsonl_line
from respan_otel.client._page_types import LogPage, Page, Summary
from respan_otel.client._resource import (
    BULK_MAX_LOGS,
    MAX_PAGE_SIZE,
    UNSET,
    _dataset_segment,
    _fields_param,
    _filters,
    _object,
    _page,
    _page_size,
    _Resource,
    _segment,
    _sort_by,
)
from respan_otel.client._types import BulkError, BulkResult, CreatedLog, DatasetLog

__all__ = ["DatasetLogs"]


def _logs_path(dataset_id: str, tail: str = "") -> str:
    return f"/api/datasets/{_dataset_segment(dataset_id)}/logs/{tail}"


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
        path = _logs_path(dataset_id)
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
        dataset_path = _logs_path(dataset_id, "bulk/")
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
        path = _logs_path(dataset_id, "list/")
        params = {
            "page": _page(page),
            "page_size": _page_size(page_size),
            "sort_by": _sort_by(sort_by),
            "include_fields": _fields_param(include_fields),
        }
        normalized = _filters("filters", filters)
        body: dict[str, Any] = {} if normalized is None else {"filters": normalized}
        answer = self._http.request("POST", path, params=params, body=body, idempotent=True)
        return Page.from_api(_object(answer, "POST", path), DatasetLog.from_api)

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
        """Every matching log as JSON Lines or CSV text.

        Against the local server this is one request (its export answers with the file);
        against Respan, whose export is e-mailed, the pages are walked. JSONL keeps each
        log exactly as the server sent it; CSV has one column per field seen, nested
        values as JSON.
        """
        if format not in ("jsonl", "csv"):
            raise ValueError(f"format must be 'jsonl' or 'csv', not {format!r}")
        rows = self._export_rows(dataset_id, filters=filters, sort_by=sort_by).rows
        if format == "jsonl":
            return "".join(jsonl_line(row) for row in rows)
        return to_csv(builtins.list(rows))

    def _export_rows(
        self,
        dataset_id: str,
        *,
        filters: Mapping[str, object] | None = None,
        sort_by: str | None = None,
    ) -> ExportRows:
        """The rows of :meth:`export` as they arrive, with the total (for the CLI)."""
        normalized = _filters("filters", filters)
        body: dict[str, Any] = {} if normalized is None else {"filters": normalized}
        return export_rows(self._http, _logs_path(dataset_id, "list/"), body, _sort_by(sort_by))

    @staticmethod
    def _log_path(dataset_id: str, log_id: str) -> str:
        return _logs_path(dataset_id, f"{_segment('log_id', log_id)}/")

    def import_logs(
        self,
        dataset_id: str,
        *,
        start_time: datetime | str,
        end_time: datetime | str,
        filters: Mapping[str, object] | None = None,
        sampling_percentage: int | None = None,
    ) -> str:
        """Import existing spans (or traces, per the dataset's granularity) from a time
        range as rows; Respan runs it in the background. Returns the server's message.

        The local server stores no spans, so there it imports nothing (and says so).
        """
        if sampling_percentage is not None and (
            isinstance(sampling_percentage, bool)
            or not isinstance(sampling_percentage, int)
            or not 1 <= sampling_percentage <= 100
        ):
            raise ValueError(
                f"sampling_percentage must be from 1 to 100, got {sampling_percentage!r}"
            )
        body: dict[str, Any] = {"start_time": _iso(start_time), "end_time": _iso(end_time)}
        normalized = _filters("filters", filters)
        if normalized is not None:
            body["filters"] = normalized
        if sampling_percentage is not None:
            body["sampling_percentage"] = sampling_percentage
        path = _logs_path(dataset_id, "import/")
        return _message(self._http.request("POST", path, body=body, idempotent=False), path)

    def remove(
        self,
        dataset_id: str,
        *,
        filters: Mapping[str, object] | None = None,
        all_logs: bool = False,
    ) -> str:
        """Remove the logs matching ``filters``, or every log with ``all_logs=True``.

        One of the two is required, so an empty filter never empties a dataset by
        accident. Returns the server's message (Respan removes in the background).
        """
        normalized = _filters("filters", filters)
        if not normalized and not all_logs:
            raise ValueError("remove() needs filters=, or all_logs=True to remove every log")
        body: dict[str, Any] = {"is_deleting_all_logs": bool(all_logs)}
        if normalized:
            body["filters"] = normalized
        path = _logs_path(dataset_id, "import/")
        return _message(self._http.request("DELETE", path, body=body, idempotent=True), path)

    def summary(self, dataset_id: str, *, filters: Mapping[str, object] | None = None) -> Summary:
        """Totals and averages (cost, tokens, latency) over the matching logs."""
        normalized = _filters("filters", filters)
        body = {} if normalized is None else {"filters": normalized}
        path = _logs_path(dataset_id, "summary/")
        answer = self._http.request("POST", path, body=body, idempotent=True)
        return Summary.from_api(_object(answer, "POST", path))


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


def _iso(value: datetime | str) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str) and value.strip():
        return value
    raise ValueError(f"expected a datetime or an ISO 8601 string, got {value!r}")


def _message(answer: Any, path: str) -> str:
    body = _object(answer, "POST", path) if answer is not None else {}
    return str(body.get("message", ""))
