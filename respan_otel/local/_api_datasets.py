"""Handlers of datasets: create, list, get, update, delete, and evaluation reports."""

from __future__ import annotations

from collections.abc import Mapping

from respan_otel.local._common import (
    ApiError,
    JSONObject,
    canonical_id,
    new_log_id,
    new_uuid,
    not_found,
    now_iso,
)
from respan_otel.local._protocol import Request, Response, as_int, list_params, paginate
from respan_otel.local._records import (
    build_dataset,
    tag_objects,
    validate_dataset_create,
    validate_dataset_update,
)
from respan_otel.local._routes import Routes


def dataset_view(doc: JSONObject) -> JSONObject:
    """A stored dataset in its read shape (tags as ``{id, name, color}`` objects)."""
    return {**doc, "tags": tag_objects(doc.get("tags"))}


class DatasetRoutes(Routes):
    """``/api/datasets/`` and ``/api/datasets/{id}/`` (and its ``eval-reports``)."""

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
        return Response.json(201, dataset_view(created))

    def list_datasets(self, request: Request) -> Response:
        """``POST /api/datasets/list/`` and ``GET /api/datasets/``: one page of datasets."""
        params = list_params(request, default_sort="-created_at")
        return paginate(
            request, params, self.store.list_datasets, {"filters_data": {}}, shape=dataset_view
        )

    def get_dataset(self, request: Request, ds: str) -> Response:
        """``GET /api/datasets/{id}/``."""
        dataset = self.store.get_dataset(canonical_id(ds, dashed=True))
        if dataset is None:
            raise not_found("Dataset")
        return Response.json(200, dataset_view(dataset))

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
        return Response.json(200, dataset_view(updated))

    def delete_dataset(self, request: Request, ds: str) -> Response:
        """``DELETE /api/datasets/{id}/``: the dataset and all its logs."""
        if not self.store.delete_dataset(canonical_id(ds, dashed=True)):
            raise not_found("Dataset")
        return Response(204)

    # evaluation reports: no evaluator runs locally, so none is ever created

    def run_evaluators(self, request: Request, ds: str) -> Response:
        """``POST .../eval-reports/create/``: checked, then every evaluator is refused."""
        dataset_id = self._dataset_id(ds)
        body = request.object()
        ids = body.get("evaluator_ids")
        if not (isinstance(ids, list) and ids and all(isinstance(i, str) and i for i in ids)):
            raise ApiError(
                400, "Validation error", errors={"evaluator_ids": ["A non-empty list of ids."]}
            )
        experiment = body.get("experiment_id")
        if experiment is not None:
            if not isinstance(experiment, str):
                raise ApiError(400, "Validation error", errors={"experiment_id": ["A string."]})
            if self.store.get_experiment(canonical_id(experiment, dashed=True)) is None:
                raise not_found("Experiment")
        reason = (
            f"evaluators do not run on the local server (dataset {dataset_id}); "
            "score the rows in your own code, or run evaluators on Respan"
        )
        return Response.json(
            200,
            {
                "created_tasks": [],
                "errors": dict.fromkeys(ids, reason),
                "experiment_updated": False,
                "experiment_evaluator_ids": [],
            },
        )

    def list_eval_runs(self, request: Request, ds: str) -> Response:
        """``GET .../eval-reports/list/``: always an empty page locally."""
        self._dataset_id(ds)
        for name in ("page", "page_size"):
            raw = request.query.get(name)
            value = as_int(raw) if raw not in (None, "") else 1
            if value is None or value < 1:
                raise ApiError(400, f"Invalid {name}: expected a positive integer")
        empty: Mapping[str, object] = {
            "count": 0,
            "next": None,
            "previous": None,
            "total_count": 0,
            "current_filters": {},
            "filters_data": {},
            "results": [],
        }
        return Response.json(200, empty)
