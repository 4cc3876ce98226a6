"""Validation and read shapes of experiments and experiment logs.

Shapes follow the official client's ``CreateExperimentResponse`` and
``ListExperimentSpansResponseResultsItem`` types. Nothing runs locally: an experiment
gets one log per dataset row (input and expected output copied, status ``pending``), and
a runner writes each row's result with PATCH and moves the experiment's ``status`` from
``pending`` to ``running`` to ``completed`` or ``failed``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from respan_otel.local._common import JSONObject, new_log_id, parse_time
from respan_otel.local._records import Errors, as_integer, is_integer, is_number, type_name

EXPERIMENT_STATUSES: Final = ("pending", "running", "completed", "failed")
_NEXT_STATUSES: Final[Mapping[str, frozenset[str]]] = {
    "pending": frozenset({"pending", "running", "completed", "failed"}),
    "running": frozenset({"running", "completed", "failed"}),
    "completed": frozenset({"completed"}),
    "failed": frozenset({"failed"}),
}
LOG_STATUSES: Final = ("pending", "running", "success", "error")
SCORE_TYPES: Final = (
    "numerical",
    "boolean",
    "percentage",
    "single_select",
    "multi_select",
    "text",
    "json",
    "comment",
    "categorical",
)
_DEFAULTS: Final[Mapping[str, object]] = {
    "span_workflow_name": "workflow",
    "enable_tracing": True,
    "batch_size": 100,
    "concurrency": 15,
}
_STRING_FIELDS: Final = (
    "experiment_id",
    "name",
    "description",
    "span_workflow_name",
    "generation_method",
    "error_message",
)
_SCORING: Final = ("evaluator_ids", "evaluator_slugs", "evaluator_workflow_ids")
CONFIG_FIELDS: Final = (
    "dataset_id",
    "workflow",
    *_SCORING,
    "name",
    "description",
    "span_workflow_name",
    "enable_tracing",
    "batch_size",
    "concurrency",
    "generation_method",
    "tags",
)
"""Fields a client sets on create, PUT and PATCH (``status``/``progress`` are PATCH only)."""


def _filled(value: object) -> bool:
    return isinstance(value, list) and len(value) > 0


def validate_experiment(body: Mapping[str, object]) -> Errors:
    """Field errors of an experiment's configuration, including the one-scoring-path rule."""
    errors: Errors = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    dataset_id = body.get("dataset_id")
    if not isinstance(dataset_id, str) or not dataset_id.strip():
        add("dataset_id", "This field is required (a dataset id string).")
    workflow = body.get("workflow")
    if not _filled(workflow):
        add("workflow", "This field is required: a non-empty list of workflow tasks.")
    else:
        assert isinstance(workflow, list)
        for index, task in enumerate(workflow):
            if not (isinstance(task, Mapping) and isinstance(task.get("type"), str)):
                add("workflow", f"Item {index} must be an object with a string 'type'.")
            elif not isinstance(task.get("config"), Mapping):
                add("workflow", f"Item {index}: 'config' is required and must be an object.")
    for field in (*_SCORING, "tags"):
        value = body.get(field)
        if value is not None and not (
            isinstance(value, list) and all(isinstance(v, str) and v for v in value)
        ):
            add(field, "Expected a list of non-empty strings.")
    by_evaluator = _filled(body.get("evaluator_ids")) or _filled(body.get("evaluator_slugs"))
    by_workflow = _filled(body.get("evaluator_workflow_ids"))
    if by_evaluator == by_workflow:
        message = (
            "Provide exactly one scoring path: evaluator_ids/evaluator_slugs or "
            "evaluator_workflow_ids" + (", not both." if by_evaluator else ".")
        )
        for field in _SCORING:
            add(field, message)
    for field in ("batch_size", "concurrency"):
        value = body.get(field)
        if value is not None and not (is_integer(value) and 1 <= value <= 100_000):  # type: ignore[operator]
            add(field, "Expected an integer from 1 to 100000.")
    if body.get("enable_tracing") is not None and not isinstance(body.get("enable_tracing"), bool):
        add("enable_tracing", "Expected a boolean.")
    for field in _STRING_FIELDS:
        value = body.get(field)
        if value is not None and not isinstance(value, str):
            add(field, f"Expected a string, got {type_name(value)}.")
    return errors


def validate_progress(old: Mapping[str, object], body: Mapping[str, object]) -> Errors:
    """Field errors of the run-state fields of a PATCH: ``status`` and ``progress``."""
    errors: Errors = {}
    status = body.get("status", old.get("status"))
    if status not in EXPERIMENT_STATUSES:
        errors["status"] = [f"Expected one of {', '.join(EXPERIMENT_STATUSES)}."]
    elif status not in _NEXT_STATUSES.get(str(old.get("status")), frozenset()):
        errors["status"] = [f"An experiment cannot go from {old.get('status')} to {status}."]
    progress = body.get("progress")
    if "progress" in body and not (is_number(progress) and 0 <= progress <= 100):  # type: ignore[operator]
        errors["progress"] = ["Expected a percentage from 0 to 100."]
    return errors


def _tags(value: object) -> list[JSONObject]:
    # the read shape types tags as objects; ids given by a client become {"id": ...}
    return [{"id": tag} for tag in value] if isinstance(value, list) else []


def build_experiment(
    body: Mapping[str, object], *, experiment_id: str, dataset_name: str | None, now: str
) -> JSONObject:
    """The stored shape of a new experiment, status ``pending``."""
    experiment: JSONObject = {
        "id": experiment_id,
        "status": "pending",
        "progress": 0.0,
        "created_at": now,
        "started_at": None,
        "completed_at": None,
        "error_message": None,
    }
    return configure_experiment(experiment, body, dataset_name=dataset_name, now=now)


def configure_experiment(
    old: Mapping[str, object], body: Mapping[str, object], *, dataset_name: str | None, now: str
) -> JSONObject:
    """``old`` with its configuration taken from ``body`` (a validated full configuration)."""
    workflow = body.get("workflow")
    ids, slugs = body.get("evaluator_ids"), body.get("evaluator_slugs")
    doc: JSONObject = dict(old)
    doc.update(
        name=body.get("name") or old.get("name") or f"Experiment {now[:19].replace('T', ' ')}",
        description=body.get("description"),
        dataset=body.get("dataset_id"),
        dataset_id=body.get("dataset_id"),
        dataset_name=dataset_name,
        workflow=workflow,
        workflow_count=len(workflow) if isinstance(workflow, list) else 0,
        evaluator_ids=ids if _filled(ids) else (slugs if _filled(slugs) else []),
        evaluator_slugs=slugs if isinstance(slugs, list) else [],
        evaluator_workflow_ids=body.get("evaluator_workflow_ids") or [],
        generation_method=body.get("generation_method"),
        tags=_tags(body.get("tags")),
        updated_at=now,
    )
    for field, default in _DEFAULTS.items():
        value = body.get(field)
        doc[field] = default if value is None else value
    return doc


def config_of(experiment: Mapping[str, object]) -> JSONObject:
    """The configuration fields of a stored experiment, in request form (for PATCH)."""
    config: JSONObject = {field: experiment.get(field) for field in CONFIG_FIELDS}
    tags = experiment.get("tags")
    config["tags"] = (
        [t["id"] for t in tags if isinstance(t, Mapping)] if isinstance(tags, list) else None
    )
    return config


def advance(doc: JSONObject, body: Mapping[str, object], now: str) -> None:
    """Apply a validated PATCH's ``status``, ``progress`` and ``error_message`` to ``doc``."""
    status = body.get("status", doc.get("status"))
    if "progress" in body:
        doc["progress"] = float(body["progress"])  # type: ignore[arg-type]
    if status != doc.get("status"):
        if status in ("running", "completed", "failed") and doc.get("started_at") is None:
            doc["started_at"] = now
        if status in ("completed", "failed"):
            doc["completed_at"] = now
        if status == "completed" and "progress" not in body:
            doc["progress"] = 100.0
        doc["status"] = status
    if "error_message" in body:
        doc["error_message"] = body["error_message"]


def experiment_log(
    experiment: Mapping[str, object], row: Mapping[str, object], now: str
) -> JSONObject:
    """A new, pending experiment log for one dataset row."""
    log_id = new_log_id()
    metadata = row.get("metadata")
    return {
        "id": log_id,
        "trace_unique_id": log_id,
        "root_span_unique_id": log_id,
        "experiment_id": experiment["id"],
        "dataset_id": row.get("dataset_id"),
        "dataset_log_id": row.get("unique_id"),
        "comparison_key": row.get("unique_id"),
        "environment": "local",
        "customer_identifier": row.get("customer_identifier"),
        "name": experiment.get("span_workflow_name"),
        "input": row.get("input"),
        "output": None,
        "expected_output": row.get("expected_output"),
        "metadata": dict(metadata) if isinstance(metadata, Mapping) else {},
        "status": "pending",
        "error_message": None,
        "start_time": None,
        "end_time": None,
        "duration": None,
        "span_count": 0,
        "llm_call_count": 0,
        "total_cost": 0.0,
        "total_tokens": 0,
        "total_prompt_tokens": 0,
        "total_completion_tokens": 0,
        "error_count": 0,
        "scores": {},
        "created_at": now,
        "updated_at": now,
    }


# metrics a result may carry -> the experiment log's fields
_METRICS: Final[Mapping[str, str]] = {
    "cost": "total_cost",
    "total_cost": "total_cost",
    "prompt_tokens": "total_prompt_tokens",
    "completion_tokens": "total_completion_tokens",
    "total_tokens": "total_tokens",
    "latency": "duration",
    "duration": "duration",
    "span_count": "span_count",
    "llm_call_count": "llm_call_count",
    "error_count": "error_count",
}
_INTEGER_METRICS: Final = frozenset(
    {
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "span_count",
        "llm_call_count",
        "error_count",
    }
)
_MAX_COUNT: Final = 2**53 - 1


def _score(evaluator_id: str, raw: object, errors: Errors) -> JSONObject | None:
    """One score in the read shape; a bare number, boolean or string is accepted too."""
    where = f"scores.{evaluator_id}"
    if isinstance(raw, bool):
        return {"evaluator_id": evaluator_id, "score_value_type": "boolean", "boolean_value": raw}
    if is_number(raw):
        return {
            "evaluator_id": evaluator_id,
            "score_value_type": "numerical",
            "numerical_value": raw,
        }
    if isinstance(raw, str):
        return {"evaluator_id": evaluator_id, "score_value_type": "text", "string_value": raw}
    if not isinstance(raw, Mapping):
        errors.setdefault(where, []).append("Expected a number, boolean, string or score object.")
        return None
    checks: dict[str, Callable[[object], bool]] = {
        "evaluator_slug": lambda v: isinstance(v, str),
        "evaluator_name": lambda v: isinstance(v, str),
        "score_value_type": lambda v: v in SCORE_TYPES,
        "numerical_value": is_number,
        "string_value": lambda v: isinstance(v, str),
        "boolean_value": lambda v: isinstance(v, bool),
        "categorical_value": lambda v: isinstance(v, list) and all(isinstance(i, str) for i in v),
        "json_value": lambda v: isinstance(v, str),
        "explanation": lambda v: isinstance(v, str),
    }
    for key, ok in checks.items():
        if raw.get(key) is not None and not ok(raw[key]):
            errors.setdefault(where, []).append(f"Invalid {key}: {raw[key]!r}.")
    score: JSONObject = {k: raw[k] for k in checks if raw.get(k) is not None}
    if "score_value_type" not in score:
        score["score_value_type"] = (
            "boolean"
            if "boolean_value" in score
            else "numerical"
            if "numerical_value" in score
            else "text"
        )
    score["evaluator_id"] = evaluator_id
    return score


def validate_result(body: Mapping[str, object]) -> Errors:
    """Field errors of a PATCH of an experiment log (a row's result)."""
    errors: Errors = {}
    for field in ("input", "output"):
        if field not in body:
            errors[field] = ["This field is required."]
    for field in ("metrics", "metadata", "scores"):
        if body.get(field) is not None and not isinstance(body.get(field), Mapping):
            errors[field] = [f"Expected an object, got {type_name(body.get(field))}."]
    metrics = body.get("metrics")
    for key, value in metrics.items() if isinstance(metrics, Mapping) else ():
        integer = key in _INTEGER_METRICS
        if not (is_integer(value) if integer else is_number(value)) or not 0 <= value <= _MAX_COUNT:
            kind = "a non-negative integer" if integer else "a non-negative number"
            errors.setdefault("metrics", []).append(f"{key!r} must be {kind}.")
    scores = body.get("scores")
    for key, value in scores.items() if isinstance(scores, Mapping) else ():
        _score(str(key), value, errors)
    if body.get("status") is not None and body.get("status") not in LOG_STATUSES:
        errors["status"] = [f"Expected one of {', '.join(LOG_STATUSES)}."]
    if body.get("error_message") is not None and not isinstance(body.get("error_message"), str):
        errors["error_message"] = ["Expected a string."]
    for field in ("start_time", "end_time"):
        value = body.get(field)
        if value is not None and not (isinstance(value, str) and parse_time(value)):
            errors[field] = ["Expected an ISO 8601 date-time such as 2025-07-01T12:00:00Z."]
    return errors


def apply_result(log: JSONObject, body: Mapping[str, object], now: str) -> JSONObject:
    """A (validated) result written into an experiment log."""
    new = dict(log)
    new["input"], new["output"] = body["input"], body["output"]
    metrics = body.get("metrics")
    for key, value in metrics.items() if isinstance(metrics, Mapping) else ():
        if key in _METRICS:
            new[_METRICS[key]] = value
    if isinstance(metrics, Mapping) and "total_tokens" not in metrics:
        new["total_tokens"] = (as_integer(new.get("total_prompt_tokens")) or 0) + (
            as_integer(new.get("total_completion_tokens")) or 0
        )
    metadata = body.get("metadata")
    if isinstance(metadata, Mapping):
        new["metadata"] = {**(log.get("metadata") or {}), **metadata}  # type: ignore[dict-item]
    scores = body.get("scores")
    if isinstance(scores, Mapping):
        merged = dict(log.get("scores") or {})  # type: ignore[call-overload]
        for key, value in scores.items():
            merged[str(key)] = _score(str(key), value, {})
        new["scores"] = merged
    if "error_message" in body:
        new["error_message"] = body["error_message"]
    default = "error" if new.get("error_message") else "success"
    new["status"] = body.get("status") or default
    new["error_count"] = max(as_integer(new.get("error_count")) or 0, int(new["status"] == "error"))
    for field, fallback in (("start_time", log.get("start_time") or now), ("end_time", now)):
        value = body.get(field)
        new[field] = parse_time(value) if isinstance(value, str) else fallback
    new["updated_at"] = now
    return new
