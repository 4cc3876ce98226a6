"""Handlers of experiments and experiment logs (``/api/v2/experiments/...``).

Locally nothing runs: creating an experiment snapshots its dataset's rows as ``pending``
experiment logs; a runner writes each row's result (PATCH of the log: ``input``,
``output``, ``metrics``, ``metadata``, and locally ``scores``/``status``) and moves the
experiment through ``pending`` -> ``running`` -> ``completed``/``failed`` with PATCH of
the experiment (``status``, ``progress``, ``error_message``).
"""

from __future__ import annotations

from collections.abc import Mapping

from respan_otel.local._common import (
    ApiError,
    JSONObject,
    canonical_id,
    dumps,
    new_uuid,
    not_found,
    now_iso,
    parse_time,
)
from respan_otel.local._experiment_records import (
    advance,
    apply_result,
    build_experiment,
    config_of,
    configure_experiment,
    experiment_log,
    validate_experiment,
    validate_progress,
    validate_result,
)
from respan_otel.local._protocol import (
    Request,
    Response,
    as_flag,
    as_int,
    list_params,
    paginate,
    query_of,
)
from respan_otel.local._records import as_float
from respan_otel.local._routes import SAVED_LOGS_DATASET, Routes
from respan_otel.local._store import Query
from respan_otel.local._summary import experiment_log_summary, histogram

_LOCAL_FIELDS = ("status", "progress", "error_message")
"""PATCH fields the local server takes beyond Respan's (which sets them itself)."""
_PREVIEWED = ("input", "output", "expected_output")
_MAX_BINS = 50


def _invalid(errors: Mapping[str, list[str]]) -> ApiError:
    return ApiError(400, "Validation error", errors=errors)


def _time_window(request: Request, query: Query) -> Query:
    """``query`` narrowed by the ``start_time``/``end_time`` query parameters."""
    where, params = [query.where], list(query.params)
    for name, op in (("start_time", ">="), ("end_time", "<")):
        raw = request.query.get(name)
        if raw in (None, ""):
            continue
        moment = parse_time(raw)
        if moment is None:
            raise _invalid({name: ["Expected an ISO 8601 date-time."]})
        where.append(f"json_extract(doc, '$.start_time') {op} ?")
        params.append(moment)
    return Query(
        where=" AND ".join(f"({w})" for w in where),
        params=params,
        sort_path=query.sort_path,
        descending=query.descending,
        limit=query.limit,
        offset=query.offset,
    )


class ExperimentRoutes(Routes):
    """Experiments, their logs, summaries and score histograms."""

    def _experiment(self, exp: str) -> JSONObject:
        experiment = self.store.get_experiment(canonical_id(exp, dashed=True))
        if experiment is None:
            raise not_found("Experiment")
        return experiment

    def _dataset_rows(self, dataset_id: object) -> tuple[str, str | None, list[JSONObject]]:
        """``(stored id, name, rows)`` of an experiment's dataset; 404 when unknown."""
        stored = self._dataset_id(str(dataset_id))
        dataset = None if stored == SAVED_LOGS_DATASET else self.store.get_dataset(stored)
        name = str(dataset["name"]) if dataset is not None else stored
        _, rows = self.store.list_logs(stored, Query(sort_path='$."unique_id"'))
        return stored, name, rows

    def create_experiment(self, request: Request) -> Response:
        """``POST /api/v2/experiments/``: stored ``pending``, one log per dataset row."""
        body = request.object()
        errors = validate_experiment(body)
        if errors:
            raise _invalid(errors)
        given = body.get("experiment_id")
        experiment_id = canonical_id(given, dashed=True) if isinstance(given, str) else new_uuid()
        dataset_id, dataset_name, rows = self._dataset_rows(body["dataset_id"])
        now = now_iso()
        doc = build_experiment(
            {**body, "dataset_id": dataset_id},
            experiment_id=experiment_id,
            dataset_name=dataset_name,
            now=now,
        )
        doc["log_count"] = len(rows)
        logs = [experiment_log(doc, row, now) for row in rows]
        if not self.store.create_experiment(doc, logs):
            raise _invalid({"experiment_id": ["An experiment with this id already exists."]})
        return Response.json(201, doc)

    def list_experiments(self, request: Request) -> Response:
        """``POST /api/v2/experiments/list/`` and ``GET /api/v2/experiments/``."""
        params = list_params(request, default_sort="-created_at")
        return paginate(request, params, self.store.list_experiments)

    def summarize_experiments(self, request: Request) -> Response:
        """``POST /api/v2/experiments/summary/``: how many experiments match."""
        params = list_params(request, default_sort="-created_at")
        _, query = query_of(params, window=False)
        count, _ = self.store.list_experiments(
            Query(where=query.where, params=query.params, limit=0)
        )
        return Response.json(200, {"total_count": count})

    def get_experiment(self, request: Request, exp: str) -> Response:
        """``GET /api/v2/experiments/{id}/``."""
        return Response.json(200, self._experiment(exp))

    def _reconfigure(self, request: Request, exp: str, *, replace: bool) -> Response:
        body = request.object()
        experiment_id = str(self._experiment(exp)["id"])
        unknown_local = [f for f in _LOCAL_FIELDS if f in body] if replace else []
        if unknown_local:
            raise _invalid({f: ["Set with PATCH, not PUT."] for f in unknown_local})
        now = now_iso()
        moved_to: list[tuple[str, str | None, list[JSONObject]]] = []

        def change(old: JSONObject) -> JSONObject:
            given = {k: v for k, v in body.items() if k != "experiment_id"}
            config = given if replace else {**config_of(old), **given}
            errors = {**validate_experiment(config), **validate_progress(old, body)}
            target = canonical_id(str(config.get("dataset_id")), dashed=True)
            moved = target != old.get("dataset_id")
            if moved and old.get("status") != "pending":
                errors["dataset_id"] = ["The dataset of a started experiment cannot change."]
            if errors:
                raise _invalid(errors)
            name = old.get("dataset_name")
            if moved:
                moved_to.append(self._dataset_rows(target))
                target, name = moved_to[0][0], moved_to[0][1]
            config["dataset_id"] = target
            doc = configure_experiment(
                old, config, dataset_name=name if isinstance(name, str) else None, now=now
            )
            advance(doc, body, now)
            return doc

        def new_logs(old: JSONObject, new: JSONObject) -> list[JSONObject] | None:
            if not moved_to:
                return None
            rows = moved_to[0][2]
            new["log_count"] = len(rows)
            return [experiment_log(new, row, now) for row in rows]

        updated = self.store.update_experiment(experiment_id, change, new_logs)
        if updated is None:
            raise not_found("Experiment")
        return Response.json(200, updated)

    def update_experiment(self, request: Request, exp: str) -> Response:
        """``PATCH``: configuration fields given change; locally also ``status``,
        ``progress`` and ``error_message`` (Respan sets those itself)."""
        return self._reconfigure(request, exp, replace=False)

    def replace_experiment(self, request: Request, exp: str) -> Response:
        """``PUT``: the whole configuration is replaced (as checked on create)."""
        return self._reconfigure(request, exp, replace=True)

    def delete_experiment(self, request: Request, exp: str) -> Response:
        """``DELETE /api/v2/experiments/{id}/``, with its logs."""
        if not self.store.delete_experiment(canonical_id(exp, dashed=True)):
            raise not_found("Experiment")
        return Response(204)

    # experiment logs

    def list_experiment_logs(self, request: Request, exp: str) -> Response:
        """``POST .../logs/list/``: a page of the experiment's logs (one per dataset row)."""
        experiment_id = str(self._experiment(exp)["id"])
        params = list_params(request, default_sort="created_at")
        detail = as_flag(request.query.get("detail"))
        preview = as_int(request.query.get("preview_length"))

        def shape(log: JSONObject) -> JSONObject:
            if detail:
                return {**log, "span_tree": []}
            if preview is None or preview <= 0:
                return log
            cut = {}
            for field in _PREVIEWED:
                value = log.get(field)
                if value is not None:
                    text = value if isinstance(value, str) else dumps(value)
                    cut[field] = text[:preview]
            return {**log, **cut}

        return paginate(
            request,
            params,
            lambda query: self.store.list_experiment_logs(
                experiment_id, _time_window(request, query)
            ),
            shape=shape,
        )

    def get_experiment_log(self, request: Request, exp: str, log: str) -> Response:
        """``GET .../logs/{id}/``: one experiment log, with an (empty locally) span tree."""
        experiment_id = str(self._experiment(exp)["id"])
        found = self.store.get_experiment_log(experiment_id, canonical_id(log, dashed=False))
        if found is None:
            raise not_found("Experiment log")
        return Response.json(200, {**found, "span_tree": []})

    def update_experiment_log(self, request: Request, exp: str, log: str) -> Response:
        """``PATCH .../logs/{id}/``: a row's result. Answers ``{id, trace_unique_id, status}``."""
        experiment_id = str(self._experiment(exp)["id"])
        body = request.object()
        errors = validate_result(body)
        if errors:
            raise _invalid(errors)
        now = now_iso()
        updated = self.store.update_experiment_log(
            experiment_id, canonical_id(log, dashed=False), lambda old: apply_result(old, body, now)
        )
        if updated is None:
            raise not_found("Experiment log")
        return Response.json(
            200,
            {
                "id": updated["id"],
                "trace_unique_id": updated["trace_unique_id"],
                "status": updated["status"],
            },
        )

    def _logs_matching(self, request: Request, experiment_id: str) -> list[JSONObject]:
        params = list_params(request, default_sort="created_at")
        _, query = query_of(params, window=False)
        _, rows = self.store.list_experiment_logs(experiment_id, _time_window(request, query))
        return rows

    def summarize_experiment_logs(self, request: Request, exp: str) -> Response:
        """``POST .../logs/summary/``: totals, averages and per-evaluator score summaries."""
        experiment_id = str(self._experiment(exp)["id"])
        return Response.json(
            200, experiment_log_summary(self._logs_matching(request, experiment_id))
        )

    def experiment_histogram(self, request: Request, exp: str) -> Response:
        """``POST .../histogram/?evaluator_id=&bins=``: numerical scores of one evaluator."""
        experiment_id = str(self._experiment(exp)["id"])
        evaluator = request.query.get("evaluator_id", "")
        if not evaluator:
            raise _invalid({"evaluator_id": ["This query parameter is required."]})
        raw_bins = request.query.get("bins")
        bins = as_int(raw_bins) if raw_bins not in (None, "") else 10
        if bins is None or not 1 <= bins <= _MAX_BINS:
            raise _invalid({"bins": [f"Expected an integer from 1 to {_MAX_BINS}."]})
        _, rows = self.store.list_experiment_logs(experiment_id, Query())
        values = []
        for row in rows:
            scores = row.get("scores")
            score = scores.get(evaluator) if isinstance(scores, Mapping) else None
            if isinstance(score, Mapping):
                value = score.get("numerical_value", score.get("boolean_value"))
                number = float(value) if isinstance(value, bool) else as_float(value)
                if number is not None:
                    values.append(number)
        slug = next(
            (
                s[evaluator].get("evaluator_slug")
                for s in (r.get("scores") for r in rows)
                if isinstance(s, Mapping) and isinstance(s.get(evaluator), Mapping)
            ),
            None,
        )
        return Response.json(
            200,
            {"evaluator_id": evaluator, "evaluator_slug": slug, "evaluator_name": None}
            | histogram(values, bins),
        )
