"""Typed results of :class:`~respan_otel.RespanClient`.

Each is a frozen dataclass: the fields this version knows are typed attributes, and
``raw`` keeps the whole response body as the server sent it, so a field Respan adds
tomorrow is one ``result.raw["new_field"]`` away. ``raw`` is left out of ``repr`` and of
equality to keep both readable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BulkError",
    "BulkResult",
    "CreatedLog",
    "Dataset",
    "DatasetLog",
    "Experiment",
]

_METRIC_KEYS = (
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "total_request_tokens",
    "cost",
    "latency",
    "time_to_first_token",
)


def _str(value: object) -> str | None:
    return None if value is None else str(value)


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    return None


def _mapping(value: object) -> Mapping[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


@dataclass(frozen=True)
class Dataset:
    """A dataset, as created, retrieved or listed."""

    id: str
    name: str | None = None
    description: str | None = None
    type: str | None = None
    status: str | None = None
    log_count: int | None = None
    granularity: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, body: Mapping[str, Any]) -> Dataset:
        """Build from a response body, keeping it whole in ``raw``."""
        return cls(
            id=str(body.get("id", "")),
            name=_str(body.get("name")),
            description=_str(body.get("description")),
            type=_str(body.get("type")),
            status=_str(body.get("status")),
            log_count=_int(body.get("log_count")),
            granularity=_str(body.get("granularity")),
            created_at=_str(body.get("created_at")),
            updated_at=_str(body.get("updated_at")),
            raw=dict(body),
        )


@dataclass(frozen=True)
class DatasetLog:
    """One row of a dataset.

    ``metrics`` is the body's ``metrics`` object when the server returns one; Respan
    itself lifts metrics into top-level columns (``prompt_tokens``, ``cost``,
    ``latency``...), which are gathered here instead, so ``log.metrics`` reads the same
    against either.
    """

    id: str
    dataset_id: str | None = None
    input: Any = None
    output: Any = None
    expected_output: Any = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, Any] = field(default_factory=dict)
    status: str | None = None
    status_code: int | None = None
    timestamp: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, body: Mapping[str, Any]) -> DatasetLog:
        """Build from a response body, keeping it whole in ``raw``."""
        metrics = body.get("metrics")
        if not isinstance(metrics, Mapping):
            metrics = {key: body[key] for key in _METRIC_KEYS if body.get(key) is not None}
        return cls(
            id=str(body.get("unique_id") or body.get("id") or ""),
            dataset_id=_str(body.get("dataset_id")),
            input=body.get("input"),
            output=body.get("output"),
            expected_output=body.get("expected_output"),
            metadata=_mapping(body.get("metadata")),
            metrics=dict(metrics),
            status=_str(body.get("status")),
            status_code=_int(body.get("status_code")),
            timestamp=_str(body.get("timestamp") or body.get("created_at")),
            raw=dict(body),
        )


@dataclass(frozen=True)
class CreatedLog:
    """The answer to creating one log: its id and the server's message."""

    id: str
    message: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, body: Mapping[str, Any]) -> CreatedLog:
        """Build from a response body; accepts the debug-mode ``log_data`` shape too."""
        log_data = body.get("log_data")
        nested = log_data if isinstance(log_data, Mapping) else {}
        log_id = body.get("unique_id") or body.get("id") or nested.get("unique_id") or ""
        return cls(id=str(log_id), message=_str(body.get("message")), raw=dict(body))


@dataclass(frozen=True)
class BulkError:
    """One log that a bulk create refused; ``index`` is its position in the caller's list."""

    index: int
    error: Any


@dataclass(frozen=True)
class BulkResult:
    """The combined outcome of a bulk create, over however many requests it took.

    ``errors`` are sorted by ``index``, which always refers to the list the caller
    passed, not to the chunk a request carried. ``raw`` holds each request's body.
    """

    success_count: int = 0
    error_count: int = 0
    errors: list[BulkError] = field(default_factory=list)
    requests: int = 0
    raw: tuple[Mapping[str, Any], ...] = field(default=(), repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """Whether every log was accepted."""
        return self.error_count == 0 and not self.errors


@dataclass(frozen=True)
class Experiment:
    """An experiment. ``status`` goes ``pending`` -> ``running`` -> ``completed``/``failed``;
    ``progress`` is a percentage. Locally nothing runs: a runner sets both."""

    id: str
    name: str | None = None
    status: str | None = None
    dataset_id: str | None = None
    description: str | None = None
    progress: float | None = None
    workflow: list[Any] = field(default_factory=list)
    evaluator_ids: list[str] = field(default_factory=list)
    evaluator_workflow_ids: list[str] = field(default_factory=list)
    created_at: str | None = None
    error_message: str | None = None
    started_at: str | None = None
    completed_at: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, body: Mapping[str, Any]) -> Experiment:
        """Build from a response body, keeping it whole in ``raw``."""
        progress = body.get("progress")
        workflow = body.get("workflow")
        return cls(
            id=str(body.get("id", "")),
            name=_str(body.get("name")),
            status=_str(body.get("status")),
            dataset_id=_str(body.get("dataset_id") or body.get("dataset")),
            description=_str(body.get("description")),
            progress=float(progress)
            if isinstance(progress, (int, float)) and not isinstance(progress, bool)
            else None,
            workflow=list(workflow) if isinstance(workflow, list) else [],
            evaluator_ids=_strings(body.get("evaluator_ids")),
            evaluator_workflow_ids=_strings(body.get("evaluator_workflow_ids")),
            created_at=_str(body.get("created_at")),
            error_message=_str(body.get("error_message")) or None,
            started_at=_str(body.get("started_at")),
            completed_at=_str(body.get("completed_at")),
            raw=dict(body),
        )


def _strings(value: object) -> list[str]:
    return [str(item) for item in value] if isinstance(value, list) else []
