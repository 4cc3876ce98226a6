"""Validation of request bodies and the read shapes of datasets, logs and experiments.

The local server stores each record as the JSON document the API returns for it (its
"read shape"), so filters and sorting see exactly what clients see. Dataset logs also
keep the body they were created from, so PATCH and PUT can rebuild the read shape.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Final

from respan_otel.client._filters import normalize_filters
from respan_otel.local._common import ApiError, JSONObject, parse_time

Errors = dict[str, list[str]]

MAX_NAME_LENGTH: Final = 255

# Log fields the API lifts from ``metadata`` (strings) and ``metrics`` (numbers) to the top
# level of the log; a top-level value given by the client wins.
LIFTED_FROM_METADATA: Final = (
    "model",
    "log_type",
    "custom_identifier",
    "customer_identifier",
    "thread_identifier",
    "session_identifier",
    "session_id",
    "group_identifier",
    "evaluation_identifier",
    "environment",
    "prompt_id",
    "prompt_name",
    "trace_unique_id",
    "trace_name",
    "span_unique_id",
    "span_parent_id",
    "span_name",
    "span_workflow_name",
    "error_message",
)
LIFTED_FROM_METRICS: Final = (
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cost",
    "latency",
    "time_to_first_token",
    "tokens_per_second",
)
_STRING_FIELDS: Final = frozenset(LIFTED_FROM_METADATA) | {"error_code", "customer_email"}
_NUMBER_FIELDS: Final = frozenset(LIFTED_FROM_METRICS)
_TIME_FIELDS: Final = ("timestamp", "start_time")
# Set by the server; values a client sends for them are ignored.
_SERVER_FIELDS: Final = frozenset(
    {
        "id",
        "unique_id",
        "dataset_id",
        "organization_id",
        "status",
        "total_request_tokens",
        "scores",
    }
)
LOCAL_ORGANIZATION_ID: Final = "local"

_LOG_SHAPE: Final = (
    "id",
    "unique_id",
    "dataset_id",
    "organization_id",
    "environment",
    "timestamp",
    "start_time",
    "log_type",
    "model",
    "custom_identifier",
    "customer_identifier",
    "thread_identifier",
    "prompt_tokens",
    "completion_tokens",
    "total_request_tokens",
    "cost",
    "latency",
    "status_code",
    "status",
    "error_code",
    "error_message",
    "input",
    "output",
    "expected_output",
    "prompt",
    "completion",
    "metadata",
    "metrics",
    "scores",
)
"""Read-shape keys every log carries, in order (``null`` when not known)."""


def is_number(value: object) -> bool:
    """A JSON number: int or finite float, not bool."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def validate_log(body: object, *, require_input: bool = True) -> Errors:
    """Field errors of a dataset-log body in the unified format (empty when valid)."""
    if not isinstance(body, Mapping):
        return {"non_field_errors": [f"Expected an object, got {_type_name(body)}."]}
    errors: Errors = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    if require_input and body.get("input") is None:
        add("input", "This field is required." if "input" not in body else "May not be null.")
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, Mapping):
        add("metadata", f"Expected an object, got {_type_name(metadata)}.")
    metrics = body.get("metrics")
    if metrics is not None and not isinstance(metrics, Mapping):
        add("metrics", f"Expected an object, got {_type_name(metrics)}.")
    elif isinstance(metrics, Mapping):
        for key, value in metrics.items():
            if not is_number(value):
                add("metrics", f"{key!r} must be a number, got {_type_name(value)}.")
    for field in sorted(_STRING_FIELDS & body.keys()):
        value = body[field]
        if value is not None and not isinstance(value, str):
            add(field, f"Expected a string, got {_type_name(value)}.")
    for field in sorted(_NUMBER_FIELDS & body.keys()):
        value = body[field]
        if value is not None and not is_number(value):
            add(field, f"Expected a number, got {_type_name(value)}.")
    status_code = body.get("status_code")
    if status_code is not None and (
        isinstance(status_code, bool) or not isinstance(status_code, int)
    ):
        add("status_code", f"Expected an integer, got {_type_name(status_code)}.")
    for field in _TIME_FIELDS:
        value = body.get(field)
        if value is not None and not (isinstance(value, str) and parse_time(value)):
            add(field, "Expected an ISO 8601 date-time such as 2025-07-01T12:00:00Z.")
    return errors


def describe_errors(errors: Errors) -> str:
    """One line for a bulk item's ``error``: ``field: message; field: message``."""
    return "; ".join(f"{field}: {' '.join(messages)}" for field, messages in errors.items())


def build_log(
    body: Mapping[str, object],
    *,
    unique_id: str,
    dataset_id: str,
    received_at: str,
    previous: Mapping[str, object] | None = None,
) -> JSONObject:
    """The read shape of a (validated) log body.

    Known fields are lifted from ``metadata``/``metrics`` to the top level, as the API
    does; ``metadata`` and ``metrics`` themselves are kept as sent. ``timestamp`` and
    ``start_time`` default to the previous version's (on update) or the receive time.
    """
    metadata = body.get("metadata")
    metrics = body.get("metrics")
    meta = metadata if isinstance(metadata, Mapping) else {}
    nums = metrics if isinstance(metrics, Mapping) else {}
    log: JSONObject = dict.fromkeys(_LOG_SHAPE)
    for field in LIFTED_FROM_METADATA:
        if isinstance(meta.get(field), str):
            log[field] = meta[field]
    for field in LIFTED_FROM_METRICS:
        if is_number(nums.get(field)):
            log[field] = nums[field]
    for key, value in body.items():
        if key in _SERVER_FIELDS or (value is None and log.get(key) is not None):
            continue
        log[key] = value
    for field in _TIME_FIELDS:
        value = body.get(field)
        if isinstance(value, str):
            log[field] = parse_time(value)
        elif previous is not None and isinstance(previous.get(field), str):
            log[field] = previous[field]
        else:
            log[field] = received_at
    total = log.get("total_tokens")
    prompt, completion = log.get("prompt_tokens"), log.get("completion_tokens")
    if is_number(total):
        log["total_request_tokens"] = total
    elif is_number(prompt) and is_number(completion):
        log["total_request_tokens"] = prompt + completion  # type: ignore[operator]
    status_code = log.get("status_code")
    if status_code is None:
        status_code = 200
    log["status_code"] = status_code
    log["status"] = "success" if isinstance(status_code, int) and status_code < 400 else "error"
    log["id"] = log["unique_id"] = unique_id
    log["dataset_id"] = dataset_id
    log["organization_id"] = LOCAL_ORGANIZATION_ID
    log["scores"] = {}
    return log


def _check_string(
    body: Mapping[str, object], field: str, errors: Errors, *, required: bool
) -> None:
    value = body.get(field)
    if value is None:
        if required:
            errors.setdefault(field, []).append("This field is required.")
        return
    if not isinstance(value, str):
        errors.setdefault(field, []).append(f"Expected a string, got {_type_name(value)}.")
    elif required and not value.strip():
        errors.setdefault(field, []).append("This field may not be blank.")
    elif len(value) > MAX_NAME_LENGTH and field == "name":
        errors.setdefault(field, []).append(
            f"Ensure this field has no more than {MAX_NAME_LENGTH} characters."
        )


def validate_dataset_create(body: Mapping[str, object]) -> Errors:
    """Field errors of a create-dataset body."""
    errors: Errors = {}
    source = body.get("source_dataset_id")
    if source is not None and not isinstance(source, str):
        errors["source_dataset_id"] = [f"Expected a string, got {_type_name(source)}."]
    _check_string(body, "name", errors, required=source is None)
    if body.get("description") is not None and not isinstance(body.get("description"), str):
        errors["description"] = ["Expected a string."]
    sampling = body.get("sampling")
    if sampling is not None and not (
        isinstance(sampling, int) and not isinstance(sampling, bool) and 1 <= sampling <= 100
    ):
        errors["sampling"] = ["Expected an integer from 1 to 100."]
    for field in ("is_empty",):
        if body.get(field) is not None and not isinstance(body.get(field), bool):
            errors[field] = ["Expected a boolean."]
    times: dict[str, str] = {}
    for field in ("start_time", "end_time"):
        value = body.get(field)
        if value is None:
            continue
        parsed = parse_time(value) if isinstance(value, str) else None
        if parsed is None:
            errors[field] = ["Expected an ISO 8601 date-time such as 2025-07-01T00:00:00Z."]
        else:
            times[field] = parsed
    if len(times) == 2 and times["start_time"] > times["end_time"]:
        errors["end_time"] = ["end_time must not be before start_time."]
    granularity = body.get("granularity")
    if granularity is not None and granularity not in ("logs", "traces"):
        errors["granularity"] = ['Expected "logs" or "traces".']
    filters = body.get("initial_log_filters")
    if filters is not None:
        try:
            if not isinstance(filters, Mapping):
                raise ValueError("expected an object of filters")
            normalize_filters(filters)
        except ValueError as exc:
            errors["initial_log_filters"] = [str(exc)]
    return errors


def build_dataset(body: Mapping[str, object], *, dataset_id: str, now: str) -> JSONObject:
    """The stored shape of a new dataset (``log_count`` is added when it is read)."""
    start, end = body.get("start_time"), body.get("end_time")
    filters = body.get("initial_log_filters")
    return {
        "id": dataset_id,
        "name": body.get("name"),
        "description": body.get("description") or "",
        "type": "sampling",
        "status": "ready",
        "granularity": body.get("granularity") or "logs",
        "sampling": body.get("sampling") if body.get("sampling") is not None else 100,
        "start_time": parse_time(start) if isinstance(start, str) else None,
        "end_time": parse_time(end) if isinstance(end, str) else None,
        "initial_log_filters": dict(filters) if isinstance(filters, Mapping) else {},
        "starred": False,
        "tags": [],
        "created_at": now,
        "updated_at": now,
    }


def validate_dataset_update(body: Mapping[str, object]) -> Errors:
    """Field errors of a PATCH dataset body (name, description, starred, tags)."""
    errors: Errors = {}
    if "name" in body:
        _check_string(body, "name", errors, required=True)
    if body.get("description") is not None and not isinstance(body.get("description"), str):
        errors["description"] = ["Expected a string."]
    if "starred" in body and not isinstance(body.get("starred"), bool):
        errors["starred"] = ["Expected a boolean."]
    tags = body.get("tags")
    if "tags" in body and not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
        errors["tags"] = ["Expected a list of tag ids (strings)."]
    return errors


_EXPERIMENT_DEFAULTS: Final[Mapping[str, object]] = {
    "span_workflow_name": "workflow",
    "enable_tracing": True,
    "batch_size": 100,
    "concurrency": 15,
}


def _non_empty_list(value: object) -> bool:
    return isinstance(value, list) and len(value) > 0


def validate_experiment(body: Mapping[str, object]) -> Errors:
    """Field errors of a create-experiment body, including the one-scoring-path rule."""
    errors: Errors = {}
    dataset_id = body.get("dataset_id")
    if not isinstance(dataset_id, str) or not dataset_id.strip():
        errors["dataset_id"] = ["This field is required (a dataset id string)."]
    workflow = body.get("workflow")
    if not _non_empty_list(workflow):
        errors["workflow"] = ["This field is required: a non-empty list of workflow tasks."]
    else:
        assert isinstance(workflow, list)
        for index, task in enumerate(workflow):
            if not (isinstance(task, Mapping) and isinstance(task.get("type"), str)):
                errors.setdefault("workflow", []).append(
                    f"Item {index} must be an object with a string 'type'."
                )
            elif task.get("config") is not None and not isinstance(task.get("config"), Mapping):
                errors.setdefault("workflow", []).append(
                    f"Item {index}: 'config' must be an object."
                )
    for field in ("evaluator_ids", "evaluator_slugs", "evaluator_workflow_ids", "tags"):
        value = body.get(field)
        if value is not None and not (
            isinstance(value, list) and all(isinstance(v, str | Mapping) for v in value)
        ):
            errors[field] = ["Expected a list of strings."]
    by_evaluator = _non_empty_list(body.get("evaluator_ids")) or _non_empty_list(
        body.get("evaluator_slugs")
    )
    by_workflow = _non_empty_list(body.get("evaluator_workflow_ids"))
    if by_evaluator == by_workflow:
        message = (
            "Provide exactly one scoring path: evaluator_ids/evaluator_slugs or "
            "evaluator_workflow_ids, not both."
            if by_evaluator
            else "Provide exactly one scoring path: evaluator_ids/evaluator_slugs or "
            "evaluator_workflow_ids."
        )
        for field in ("evaluator_ids", "evaluator_slugs", "evaluator_workflow_ids"):
            errors.setdefault(field, []).append(message)
    for field in ("batch_size", "concurrency"):
        value = body.get(field)
        if value is not None and not (
            isinstance(value, int) and not isinstance(value, bool) and value >= 1
        ):
            errors[field] = ["Expected a positive integer."]
    if body.get("enable_tracing") is not None and not isinstance(body.get("enable_tracing"), bool):
        errors["enable_tracing"] = ["Expected a boolean."]
    for field in (
        "experiment_id",
        "name",
        "description",
        "span_workflow_name",
        "generation_method",
    ):
        value = body.get(field)
        if value is not None and not isinstance(value, str):
            errors[field] = [f"Expected a string, got {_type_name(value)}."]
    return errors


def build_experiment(
    body: Mapping[str, object],
    *,
    experiment_id: str,
    dataset_name: str | None,
    now: str,
) -> JSONObject:
    """The stored shape of a new experiment: status ``pending``, since nothing runs locally."""
    workflow = body.get("workflow")
    ids = body.get("evaluator_ids")
    slugs = body.get("evaluator_slugs")
    workflow_ids = body.get("evaluator_workflow_ids")
    experiment: JSONObject = {
        "id": experiment_id,
        "name": body.get("name") or f"Experiment {now[:19].replace('T', ' ')}",
        "status": "pending",
        "created_at": now,
        "updated_at": now,
        "description": body.get("description"),
        "dataset": body.get("dataset_id"),
        "dataset_id": body.get("dataset_id"),
        "dataset_name": dataset_name,
        "workflow_count": len(workflow) if isinstance(workflow, list) else 0,
        "progress": 0,
        "started_at": None,
        "completed_at": None,
        "tags": body.get("tags") or [],
        "workflow": workflow,
        "evaluator_ids": ids if _non_empty_list(ids) else (slugs if _non_empty_list(slugs) else []),
        "evaluator_slugs": slugs if isinstance(slugs, list) else [],
        "evaluator_workflow_ids": workflow_ids if isinstance(workflow_ids, list) else [],
        "error_message": None,
        "generation_method": body.get("generation_method"),
    }
    for field, default in _EXPERIMENT_DEFAULTS.items():
        value = body.get(field)
        experiment[field] = default if value is None else value
    return experiment


def require_object(body: object) -> Mapping[str, object]:
    """The body as a JSON object, or a 400 in the API's words."""
    if not isinstance(body, Mapping):
        raise ApiError(
            400, f"Invalid request format: expected a JSON object, got {_type_name(body)}"
        )
    return body
