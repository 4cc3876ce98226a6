"""``client.datasets``: datasets, and where their rows (``.logs``) hang."""

from __future__ import annotations

import builtins
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from respan_otel._datasets import SAVED_LOGS
from respan_otel.client._errors import ValidationError
from respan_otel.client._logs_api import DatasetLogs
from respan_otel.client._page_types import Page
from respan_otel.client._resource import (
    MAX_PAGE_SIZE,
    _dataset_segment,
    _filters,
    _object,
    _page,
    _page_size,
    _Resource,
    _segment,
)
from respan_otel.client._transport import HTTPTransport
from respan_otel.client._types import Dataset

__all__ = ["Datasets"]


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
        path = f"/api/datasets/{_dataset_segment(dataset_id)}/"
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
        path = f"/api/datasets/{_dataset_segment(dataset_id)}/"
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
        path = f"/api/datasets/{_dataset_segment(dataset_id)}/"
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
        if name == SAVED_LOGS:
            # the saved-logs collection is a dataset id, never a name to look up or create
            raise ValueError(
                f"{SAVED_LOGS!r} is the id of Respan's saved-logs collection, not a dataset "
                "name: pass it as the dataset id (client.datasets.logs.create(dataset_id=...))"
            )
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

    def list_page(
        self,
        *,
        filters: Mapping[str, object] | None = None,
        page: int = 1,
        page_size: int | None = None,
        sort_by: str | None = None,
    ) -> Page[Dataset]:
        """One page of datasets (``page_size`` at most 100), with ``count`` and links."""
        return self._list_page(
            "/api/datasets/list/",
            filters=filters,
            page=page,
            page_size=page_size,
            sort_by=sort_by,
            item=Dataset.from_api,
        )

    def run_evaluators(
        self,
        dataset_id: str,
        evaluator_ids: Sequence[str],
        *,
        experiment_id: str | None = None,
        generation_method: str | None = None,
    ) -> Mapping[str, Any]:
        """Start evaluators over a dataset's rows. Answers ``{created_tasks, errors,
        experiment_updated, experiment_evaluator_ids}``; ``errors`` maps an evaluator id
        to why it did not start (always, on the local server: no evaluator runs there)."""
        ids = (
            builtins.list(evaluator_ids) if not isinstance(evaluator_ids, str) else [evaluator_ids]
        )
        if not ids or not all(isinstance(i, str) and i for i in ids):
            raise ValueError("evaluator_ids must be a non-empty list of strings")
        body: dict[str, Any] = {"evaluator_ids": ids}
        if experiment_id is not None:
            body["experiment_id"] = _segment("experiment_id", experiment_id) and experiment_id
        if generation_method is not None:
            body["generation_method"] = generation_method
        path = f"/api/datasets/{_dataset_segment(dataset_id)}/eval-reports/create/"
        return _object(self._http.request("POST", path, body=body, idempotent=False), "POST", path)

    def eval_runs(
        self, dataset_id: str, *, page: int = 1, page_size: int | None = None
    ) -> Page[Mapping[str, Any]]:
        """One page of a dataset's evaluation runs (``task_id``, ``status``, ``score``...)."""
        path = f"/api/datasets/{_dataset_segment(dataset_id)}/eval-reports/list/"
        params = {"page": _page(page), "page_size": _page_size(page_size)}
        answer = self._http.request("GET", path, params=params, idempotent=True)
        return Page.from_api(_object(answer, "GET", path), dict)
