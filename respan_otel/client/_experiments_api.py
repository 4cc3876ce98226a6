"""``client.experiments`` and ``client.experiments.logs``: experiments over a dataset and
their per-row results."""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final, Literal

from respan_otel._datasets import dataset_id_of
from respan_otel.client._page_types import ExperimentLog, Page, ScoreHistogram, Summary
from respan_otel.client._resource import (
    MAX_PAGE_SIZE,
    _dataset_segment,
    _filters,
    _object,
    _Resource,
    _segment,
)
from respan_otel.client._transport import HTTPTransport
from respan_otel.client._types import Experiment

__all__ = ["EXPERIMENT_STATUSES", "ExperimentLogs", "Experiments"]

EXPERIMENT_STATUSES: Final = ("pending", "running", "completed", "failed")
"""An experiment's states, in order; ``completed`` and ``failed`` are final."""
_SCORING: Final = ("evaluator_ids", "evaluator_slugs", "evaluator_workflow_ids")


def _experiment_path(experiment_id: str, tail: str = "") -> str:
    return f"/api/v2/experiments/{_segment('experiment_id', experiment_id)}/{tail}"


def _scoring(*ids: Sequence[str] | None) -> dict[str, Sequence[str] | None]:
    return dict(zip(_SCORING, ids, strict=True))


def _config_body(
    *,
    dataset_id: str | None,
    workflow: Sequence[Mapping[str, Any]] | None,
    scoring: Mapping[str, Sequence[str] | None],
    options: Mapping[str, Any],
    fields: Mapping[str, Any],
) -> dict[str, Any]:
    """A create/PUT/PATCH body from the arguments given, each checked before sending."""
    body: dict[str, Any] = {}
    if dataset_id is not None:
        _dataset_segment(dataset_id)
        body["dataset_id"] = dataset_id_of(dataset_id)
    if workflow is not None:
        steps = builtins.list(workflow) if not isinstance(workflow, str | bytes) else []
        if not steps or not all(
            isinstance(step, Mapping) and isinstance(step.get("config"), Mapping) for step in steps
        ):
            raise ValueError(
                "workflow must be a non-empty list of steps like "
                '{"type": "completion", "config": {...}} (config is required)'
            )
        body["workflow"] = [dict(s) for s in steps]
    for key, ids in scoring.items():
        if ids is None:
            continue
        values = builtins.list(ids) if not isinstance(ids, str) else [ids]
        if not values or not all(isinstance(v, str) and v for v in values):
            raise ValueError(f"{key} must be a non-empty list of strings")
        body[key] = values
    for key in ("batch_size", "concurrency"):
        count = options.get(key)
        if count is not None and (
            isinstance(count, bool) or not isinstance(count, int) or count < 1
        ):
            raise ValueError(f"{key} must be a positive integer, got {count!r}")
    body.update({key: value for key, value in options.items() if value is not None})
    body.update(fields)
    return body


class Experiments(_Resource):
    """Experiments over a dataset: ``client.experiments``; their rows are ``.logs``."""

    __slots__ = ("logs",)

    def __init__(self, transport: HTTPTransport) -> None:
        super().__init__(transport)
        self.logs = ExperimentLogs(transport)

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
        by_evaluator = evaluator_ids is not None or evaluator_slugs is not None
        by_workflow = evaluator_workflow_ids is not None
        if by_evaluator == by_workflow:
            raise ValueError(
                "give exactly one scoring path: evaluator_ids= (or evaluator_slugs=) "
                "or evaluator_workflow_ids=, " + ("not both" if by_evaluator else "none was given")
            )
        options = {
            "name": name,
            "description": description,
            "experiment_id": experiment_id,
            "span_workflow_name": span_workflow_name,
            "enable_tracing": enable_tracing,
            "batch_size": batch_size,
            "concurrency": concurrency,
            "generation_method": generation_method,
        }
        scoring = _scoring(evaluator_ids, evaluator_slugs, evaluator_workflow_ids)
        body = _config_body(
            dataset_id=dataset_id,
            workflow=workflow,
            scoring=scoring,
            options=options,
            fields=fields,
        )
        path = "/api/v2/experiments/"
        answer = self._http.request("POST", path, body=body, idempotent=False, retry=retry)
        return Experiment.from_api(_object(answer, "POST", path))

    def get(self, experiment_id: str) -> Experiment:
        """One experiment by id."""
        path = _experiment_path(experiment_id)
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

    def list_page(
        self,
        *,
        filters: Mapping[str, object] | None = None,
        page: int = 1,
        page_size: int | None = None,
        sort_by: str | None = None,
    ) -> Page[Experiment]:
        """One page of experiments (``page_size`` at most 100), with ``count`` and links."""
        return self._list_page(
            "/api/v2/experiments/list/",
            filters=filters,
            page=page,
            page_size=page_size,
            sort_by=sort_by,
            item=Experiment.from_api,
        )

    def count(self, *, filters: Mapping[str, object] | None = None) -> int:
        """How many experiments match ``filters`` (the experiments summary endpoint)."""
        path = "/api/v2/experiments/summary/"
        normalized = _filters("filters", filters)
        body = {} if normalized is None else {"filters": normalized}
        answer = _object(self._http.request("POST", path, body=body, idempotent=True), "POST", path)
        total = answer.get("total_count")
        return total if isinstance(total, int) and not isinstance(total, bool) else 0

    def update(
        self,
        experiment_id: str,
        *,
        status: Literal["pending", "running", "completed", "failed"] | None = None,
        progress: float | None = None,
        error_message: str | None = None,
        dataset_id: str | None = None,
        workflow: Sequence[Mapping[str, Any]] | None = None,
        evaluator_ids: Sequence[str] | None = None,
        evaluator_slugs: Sequence[str] | None = None,
        evaluator_workflow_ids: Sequence[str] | None = None,
        name: str | None = None,
        description: str | None = None,
        **fields: Any,
    ) -> Experiment:
        """Change the fields given (PATCH) and return the experiment as it now is.

        ``status`` (``pending`` -> ``running`` -> ``completed``/``failed``), ``progress``
        (a percentage) and ``error_message`` record a run's state; Respan sets them
        itself while it runs an experiment, the local server takes them from a client
        that runs the experiment (``started_at``/``completed_at`` follow ``status``).
        """
        if status is not None and status not in EXPERIMENT_STATUSES:
            raise ValueError(f"status must be one of {EXPERIMENT_STATUSES}, not {status!r}")
        if progress is not None and (
            isinstance(progress, bool)
            or not isinstance(progress, int | float)
            or not 0 <= progress <= 100
        ):
            raise ValueError(f"progress must be a percentage from 0 to 100, got {progress!r}")
        scoring = _scoring(evaluator_ids, evaluator_slugs, evaluator_workflow_ids)
        options = {
            "status": status,
            "progress": progress,
            "error_message": error_message,
            "name": name,
            "description": description,
        }
        body = _config_body(
            dataset_id=dataset_id,
            workflow=workflow,
            scoring=scoring,
            options=options,
            fields=fields,
        )
        if not body:
            raise ValueError("update() needs at least one field to change")
        path = _experiment_path(experiment_id)
        answer = self._http.request("PATCH", path, body=body, idempotent=True)
        return Experiment.from_api(_object(answer, "PATCH", path))

    def replace(
        self,
        experiment_id: str,
        *,
        dataset_id: str,
        workflow: Sequence[Mapping[str, Any]],
        evaluator_ids: Sequence[str] | None = None,
        evaluator_slugs: Sequence[str] | None = None,
        evaluator_workflow_ids: Sequence[str] | None = None,
        name: str | None = None,
        description: str | None = None,
        **fields: Any,
    ) -> Experiment:
        """Replace the whole configuration (PUT); what is not given goes back to defaults."""
        scoring = _scoring(evaluator_ids, evaluator_slugs, evaluator_workflow_ids)
        body = _config_body(
            dataset_id=dataset_id,
            workflow=workflow,
            scoring=scoring,
            options={"name": name, "description": description},
            fields=fields,
        )
        path = _experiment_path(experiment_id)
        answer = self._http.request("PUT", path, body=body, idempotent=True)
        return Experiment.from_api(_object(answer, "PUT", path))

    def delete(self, experiment_id: str) -> None:
        """Delete an experiment and its logs."""
        self._http.request("DELETE", _experiment_path(experiment_id), idempotent=True)


class ExperimentLogs(_Resource):
    """The rows of experiments: ``client.experiments.logs``.

    Each row is one dataset row run through the experiment (``comparison_key`` is the
    dataset row's id). Respan fills them while it runs; against the local server they
    start ``pending`` with the dataset row's input, and :meth:`update` writes results.
    """

    __slots__ = ()

    def list(
        self,
        experiment_id: str,
        *,
        filters: Mapping[str, object] | None = None,
        page: int = 1,
        page_size: int | None = None,
        sort_by: str | None = None,
        detail: bool = False,
        preview_length: int | None = None,
    ) -> Page[ExperimentLog]:
        """One page of an experiment's logs (``page_size`` at most 100)."""
        extra: dict[str, object] = {"detail": "true" if detail else None}
        if preview_length is not None:
            extra["preview_length"] = preview_length
        return self._list_page(
            _experiment_path(experiment_id, "logs/list/"),
            filters=filters,
            page=page,
            page_size=page_size,
            sort_by=sort_by,
            item=ExperimentLog.from_api,
            extra_params=extra,
        )

    def iter(
        self,
        experiment_id: str,
        *,
        filters: Mapping[str, object] | None = None,
        page_size: int = MAX_PAGE_SIZE,
        sort_by: str | None = None,
    ) -> Iterator[ExperimentLog]:
        """Every matching log of an experiment, a page at a time as the iteration goes."""
        path = _experiment_path(experiment_id, "logs/list/")
        items = self._list_all(path, filters, page_size, sort_by)
        return (ExperimentLog.from_api(item) for item in items)

    def get(self, experiment_id: str, log_id: str) -> ExperimentLog:
        """One experiment log, with its span tree in ``raw["span_tree"]``."""
        path = _experiment_path(experiment_id, f"logs/{_segment('log_id', log_id)}/")
        answer = self._http.request("GET", path, idempotent=True)
        return ExperimentLog.from_api(_object(answer, "GET", path))

    def update(
        self,
        experiment_id: str,
        log_id: str,
        *,
        input: Any,
        output: Any,
        metrics: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        scores: Mapping[str, Any] | None = None,
        status: Literal["pending", "running", "success", "error"] | None = None,
        error_message: str | None = None,
        **fields: Any,
    ) -> Mapping[str, Any]:
        """Write one row's result (PATCH); answers ``{id, trace_unique_id, status}``.

        ``input`` and ``output`` are required, as Respan requires them. ``metrics`` take
        ``cost``, ``prompt_tokens``, ``completion_tokens``, ``total_tokens`` and
        ``latency``; ``metadata`` is merged into the row's. ``scores`` (evaluator id ->
        number, boolean, text or a score object), ``status`` and ``error_message`` are
        the local server's: on Respan, evaluators score the row after this call.
        """
        body: dict[str, Any] = {"input": input, "output": output}
        for key, mapping in (("metrics", metrics), ("metadata", metadata), ("scores", scores)):
            if mapping is not None:
                if not isinstance(mapping, Mapping):
                    raise ValueError(f"{key} must be a dict, got {type(mapping).__name__}")
                body[key] = dict(mapping)
        if status is not None:
            body["status"] = status
        if error_message is not None:
            body["error_message"] = error_message
        body.update(fields)
        path = _experiment_path(experiment_id, f"logs/{_segment('log_id', log_id)}/")
        return _object(self._http.request("PATCH", path, body=body, idempotent=True), "PATCH", path)

    def summary(
        self, experiment_id: str, *, filters: Mapping[str, object] | None = None
    ) -> Summary:
        """Totals, averages and a summary per evaluator over the matching logs."""
        path = _experiment_path(experiment_id, "logs/summary/")
        normalized = _filters("filters", filters)
        body = {} if normalized is None else {"filters": normalized}
        answer = self._http.request("POST", path, body=body, idempotent=True)
        return Summary.from_api(_object(answer, "POST", path))

    def histogram(self, experiment_id: str, evaluator_id: str, *, bins: int = 10) -> ScoreHistogram:
        """How an evaluator's numerical scores spread over ``bins`` (1 to 50) bins."""
        if isinstance(bins, bool) or not isinstance(bins, int) or not 1 <= bins <= 50:
            raise ValueError(f"bins must be an integer from 1 to 50, got {bins!r}")
        path = _experiment_path(experiment_id, "histogram/")
        params = {
            "evaluator_id": _segment("evaluator_id", evaluator_id) and evaluator_id,
            "bins": bins,
        }
        answer = self._http.request("POST", path, params=params, idempotent=True)
        return ScoreHistogram.from_api(_object(answer, "POST", path))
