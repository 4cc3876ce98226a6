"""Handlers of dataset logs: create, bulk, list/export, get, update, replace, delete,
import, remove by filter and summary."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from respan_otel.client._csv import to_csv
from respan_otel.local._common import (
    ApiError,
    JSONObject,
    canonical_id,
    dumps,
    json_problem,
    new_log_id,
    not_found,
    now_iso,
    parse_time,
)
from respan_otel.local._match import compile_filters
from respan_otel.local._protocol import (
    ListParams,
    Request,
    Response,
    as_flag,
    list_params,
    only_fields,
    paginate,
    query_of,
)
from respan_otel.local._records import (
    build_log,
    describe_errors,
    is_integer,
    require_object,
    validate_log,
)
from respan_otel.local._routes import Routes
from respan_otel.local._store import Query, StoredLog
from respan_otel.local._summary import dataset_log_summary

MAX_BULK_LOGS: Final = 500

_EXPORT_TYPES: Final[Mapping[str, tuple[str, str]]] = {
    ".csv": (".csv", "text/csv; charset=utf-8"),
    "csv": (".csv", "text/csv; charset=utf-8"),
    ".jsonl": (".jsonl", "application/x-ndjson; charset=utf-8"),
    "jsonl": (".jsonl", "application/x-ndjson; charset=utf-8"),
}


def log_list_view(doc: JSONObject) -> JSONObject:
    """A log as a list item: there ``scores`` is an object (retrieve has it as a list)."""
    scores = doc.get("scores")
    return {**doc, "scores": scores if isinstance(scores, dict) else {}}


_DOWNLOAD_TYPES: Final = ("text/csv", "application/x-ndjson", "application/octet-stream")


class LogRoutes(Routes):
    """``/api/datasets/{id}/logs/...``."""

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
        # items are checked one by one below, so a bad value fails only its own item
        body = require_object(request.json())
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
            problem = json_problem(item)
            errors = {"non_field_errors": [problem]} if problem else validate_log(item)
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
        params = list_params(request, default_sort="unique_id")
        body = request.body_object()
        exporting = body.get("is_exporting", request.query.get("is_exporting"))
        if as_flag(exporting):
            return self._export(request, dataset_id, params, body)
        return paginate(
            request,
            params,
            lambda query: self.store.list_logs(dataset_id, query),
            {"filters_data": {}, "filter_options": {}},
            shape=log_list_view,
        )

    def _export(
        self,
        request: Request,
        dataset_id: str,
        params: ListParams,
        body: Mapping[str, object],
    ) -> Response:
        """Every matching log as CSV or JSON Lines, answered at once (Respan e-mails it).

        The answer is Respan's ``{"message"}`` shape, with the file in ``content``; a
        client asking for the file itself (``Accept: text/csv`` or
        ``application/x-ndjson``, or ``?download=true``) gets it as an attachment.
        """
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
        _, query = query_of(params, window=False)
        _, rows = self.store.list_logs(dataset_id, query)
        # the rows as the list endpoint gives them, so an export matches a walk of its pages
        rows = only_fields([log_list_view(row) for row in rows], params.include_fields)
        if extension == ".jsonl":
            content = "".join(dumps(row) + "\n" for row in rows)
        else:
            content = to_csv(rows, params.include_fields)
        raw_name = body.get("name", request.query.get("name"))
        name = (
            raw_name if isinstance(raw_name, str) and raw_name.strip() else f"dataset-{dataset_id}"
        )
        filename = re.sub(r"[^\w.\- ]", "_", name, flags=re.ASCII)
        if not filename.endswith(extension):
            filename += extension
        wanted = request.accept.lower()
        if as_flag(request.query.get("download")) or any(
            kind in wanted for kind in _DOWNLOAD_TYPES
        ):
            return Response(
                200,
                content.encode("utf-8"),
                content_type=content_type,
                headers={"Content-Disposition": f'attachment; filename="{filename}"'},
            )
        message = f"Export of {len(rows)} logs ready (the local server answers at once)"
        return Response.json(
            200,
            {
                "message": message,
                "export_format": extension,
                "file_name": filename,
                "count": len(rows),
                "content": content,
            },
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
            # PUT needs input like create does; PATCH keeps the old one unless nulled
            errors = validate_log(source)
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

    def import_logs(self, request: Request, ds: str) -> Response:
        """``POST .../logs/import/``: checked like Respan does; the local server keeps no
        spans to import from, so nothing is added, and the message says so."""
        dataset_id = self._dataset_id(ds)
        body = request.object()
        errors: dict[str, list[str]] = {}
        times = {}
        for field in ("start_time", "end_time"):
            value = body.get(field)
            parsed = parse_time(value) if isinstance(value, str) else None
            if parsed is None:
                errors[field] = ["Required: an ISO 8601 date-time such as 2025-07-01T00:00:00Z."]
            times[field] = parsed
        if times["start_time"] and times["end_time"] and times["start_time"] > times["end_time"]:
            errors["end_time"] = ["end_time must not be before start_time."]
        sampling = body.get("sampling_percentage")
        if sampling is not None and not (is_integer(sampling) and 1 <= sampling <= 100):  # type: ignore[operator]
            errors["sampling_percentage"] = ["Expected an integer from 1 to 100."]
        if errors:
            raise ApiError(400, "Validation error", errors=errors)
        compile_filters(body.get("filters"))
        message = (
            f"Import into dataset {dataset_id} accepted; the local server stores no spans, "
            "so no logs were imported (add rows with the create or bulk endpoints)"
        )
        return Response.json(200, {"message": message})

    def remove_logs(self, request: Request, ds: str) -> Response:
        """``DELETE .../logs/import/``: remove the logs matching ``filters``, or all of them
        with ``is_deleting_all_logs``; done at once (Respan does it in the background)."""
        dataset_id = self._dataset_id(ds)
        body = request.object()
        everything = body.get("is_deleting_all_logs")
        if everything is not None and not isinstance(everything, bool):
            raise ApiError(
                400, "Validation error", errors={"is_deleting_all_logs": ["Expected a boolean."]}
            )
        _, where, params = compile_filters(body.get("filters"))
        if not everything and where == "1":
            raise ApiError(
                400,
                "Give filters, or is_deleting_all_logs: true to remove every log.",
                errors={"filters": ["Required unless is_deleting_all_logs is true."]},
            )
        removed = self.store.delete_logs(dataset_id, Query(where=where, params=params))
        return Response.json(200, {"message": f"Removed {removed} logs", "removed_count": removed})

    def summarize_logs(self, request: Request, ds: str) -> Response:
        """``POST .../logs/summary/`` (or GET): totals and averages of the matching logs."""
        dataset_id = self._dataset_id(ds)
        body = request.body_object()
        _, where, params = compile_filters(body.get("filters"))
        _, rows = self.store.list_logs(dataset_id, Query(where=where, params=params))
        return Response.json(200, dataset_log_summary(rows))
