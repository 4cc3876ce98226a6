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
_STRING_FIELDS: Final = frozenset(LIFTED_FROM_METADATA) | {
    "error_code",
    "customer_email",
    "prompt",
    "completion",
}
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


def as_float(value: object) -> float | None:
    """A JSON number as a float; ``None`` for anything else (bool included)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def as_integer(value: object) -> int | None:
    """A JSON integer; ``None`` for anything else (bool included)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def is_integer(value: object) -> bool:
    """A JSON integer (not bool)."""
    return isinstance(value, int) and not isinstance(value, bool)


MAX_INTEGER: Final = 2**53 - 1
"""Largest token count accepted: every JSON reader, SQLite included, holds it exactly."""
INTEGER_FIELDS: Final = frozenset({"prompt_tokens", "completion_tokens", "total_tokens"})
"""Numeric fields the API types as integers."""


def _number_error(field: str, value: object) -> str | None:
    """Why ``value`` is not acceptable for the numeric field ``field`` (``None`` if it is)."""
    if field in INTEGER_FIELDS:
        if not is_integer(value) or not 0 <= value <= MAX_INTEGER:  # type: ignore[operator]
            return f"{field!r} must be an integer from 0 to {MAX_INTEGER}, got {value!r}."
    elif not is_number(value):
        return f"{field!r} must be a number, got {type_name(value)}."
    return None


def type_name(value: object) -> str:
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
        return {"non_field_errors": [f"Expected an object, got {type_name(body)}."]}
    errors: Errors = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    if require_input and body.get("input") is None:
        add("input", "This field is required." if "input" not in body else "May not be null.")
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, Mapping):
        add("metadata", f"Expected an object, got {type_name(metadata)}.")
    metrics = body.get("metrics")
    if metrics is not None and not isinstance(metrics, Mapping):
        add("metrics", f"Expected an object, got {type_name(metrics)}.")
    elif isinstance(metrics, Mapping):
        for key, value in metrics.items():
            problem = _number_error(str(key), value)
            if problem is not None:
                add("metrics", problem)
    for field in sorted(_STRING_FIELDS & body.keys()):
        value = body[field]
        if value is not None and not isinstance(value, str):
            add(field, f"Expected a string, got {type_name(value)}.")
    for field in sorted(_NUMBER_FIELDS & body.keys()):
        value = body[field]
        problem = None if value is None else _number_error(field, value)
        if problem is not None:
            add(field, problem)
    status_code = body.get("status_code")
    if status_code is not None and not (is_integer(status_code) and 0 <= status_code <= 999):
        add("status_code", f"Expected an HTTP status code (an integer), got {status_code!r}.")
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
    log["scores"] = []
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
        errors.setdefault(field, []).append(f"Expected a string, got {type_name(value)}.")
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
        errors["source_dataset_id"] = [f"Expected a string, got {type_name(source)}."]
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
            stored_filters(filters)
        except ValueError as exc:
            errors["initial_log_filters"] = [str(exc)]
    return errors


def stored_filters(filters: object) -> JSONObject:
    """``initial_log_filters`` as stored and returned: checked, with operators as sent and
    a single value as a scalar (the read types want ``status_code``'s value as one integer).

    Raises:
        ValueError: for malformed filters, or a ``status_code`` value that is no integer.
    """
    if not isinstance(filters, Mapping):
        raise ValueError("expected an object of filters")
    out: JSONObject = {}
    normalized = normalize_filters(filters)
    for (field, spec), sent in zip(normalized.items(), filters.values(), strict=True):
        values = spec["value"]
        assert isinstance(values, list)
        assert isinstance(sent, Mapping)
        if field == "status_code" and not all(is_integer(v) for v in values):
            raise ValueError(f"filter 'status_code' values must be integers, got {values!r}")
        # the operator stays as sent (the seed page echoes "eq")
        operator = sent.get("operator", spec["operator"])
        out[field] = {
            **spec,
            "operator": operator,
            "value": values[0] if len(values) == 1 else values,
        }
    return out


def tag_objects(tags: object) -> list[JSONObject]:
    """Tag ids as the read shape's ``{id, name, color}`` objects (no tag registry locally)."""
    if not isinstance(tags, list):
        return []
    return [
        dict(tag) if isinstance(tag, Mapping) else {"id": tag, "name": tag, "color": None}
        for tag in tags
    ]


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
        "initial_log_filters": stored_filters(filters) if filters is not None else {},
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


def require_object(body: object) -> Mapping[str, object]:
    """The body as a JSON object, or a 400 in the API's words."""
    if not isinstance(body, Mapping):
        raise ApiError(
            400, f"Invalid request format: expected a JSON object, got {type_name(body)}"
        )
    return body
