"""Typed results of the list, summary and experiment-log calls of
:class:`~respan_otel.RespanClient` (the record types are in :mod:`._types`).

As there, ``raw`` keeps the whole response body, out of ``repr`` and equality.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from respan_otel.client._types import DatasetLog, _int, _mapping, _str

__all__ = ["ExperimentLog", "LogPage", "Page", "ScoreHistogram", "Summary"]

T = TypeVar("T")


def _float(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list endpoint. Iterating it yields its ``results``."""

    count: int
    next: str | None
    previous: str | None
    results: list[T]
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, body: Mapping[str, Any], item: Callable[[Mapping[str, Any]], T]) -> Page[T]:
        """Build from a response body, each result through ``item``."""
        items = body.get("results")
        results = [
            item(entry)
            for entry in (items if isinstance(items, list) else [])
            if isinstance(entry, Mapping)
        ]
        count = _int(body.get("count"))
        return cls(
            count=len(results) if count is None else count,
            next=_str(body.get("next")),
            previous=_str(body.get("previous")),
            results=results,
            raw=dict(body),
        )

    def __iter__(self) -> Iterator[T]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)


LogPage = Page[DatasetLog]
"""One page of a dataset's logs."""


@dataclass(frozen=True)
class ExperimentLog:
    """One row of an experiment: a dataset row's input, the run's output and its scores.

    ``scores`` maps an evaluator id to its score object (``numerical_value``,
    ``boolean_value``, ``string_value``...). ``comparison_key`` is the dataset row's id,
    the same in every experiment over that dataset.
    """

    id: str
    status: str | None = None
    input: Any = None
    output: Any = None
    expected_output: Any = None
    comparison_key: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    scores: Mapping[str, Any] = field(default_factory=dict)
    total_cost: float | None = None
    total_tokens: int | None = None
    duration: float | None = None
    error_message: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, body: Mapping[str, Any]) -> ExperimentLog:
        """Build from a response body, keeping it whole in ``raw``."""
        return cls(
            id=str(body.get("id", "")),
            status=_str(body.get("status")),
            input=body.get("input"),
            output=body.get("output"),
            expected_output=body.get("expected_output"),
            comparison_key=_str(body.get("comparison_key")),
            metadata=_mapping(body.get("metadata")),
            scores=_mapping(body.get("scores")),
            total_cost=_float(body.get("total_cost")),
            total_tokens=_int(body.get("total_tokens")),
            duration=_float(body.get("duration")),
            error_message=_str(body.get("error_message")),
            raw=dict(body),
        )


@dataclass(frozen=True)
class Summary:
    """Totals and averages over matching logs, with a summary per evaluator in ``scores``."""

    number_of_requests: int = 0
    total_cost: float = 0.0
    total_tokens: int = 0
    total_prompt_tokens: int | None = None
    total_completion_tokens: int | None = None
    avg_latency: float | None = None
    scores: Mapping[str, Any] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, body: Mapping[str, Any]) -> Summary:
        """Build from a response body, keeping it whole in ``raw``."""
        return cls(
            number_of_requests=_int(body.get("number_of_requests")) or 0,
            total_cost=_float(body.get("total_cost")) or 0.0,
            total_tokens=_int(body.get("total_tokens")) or 0,
            total_prompt_tokens=_int(body.get("total_prompt_tokens")),
            total_completion_tokens=_int(body.get("total_completion_tokens")),
            avg_latency=_float(body.get("avg_latency")),
            scores=_mapping(body.get("scores")),
            raw=dict(body),
        )


@dataclass(frozen=True)
class ScoreHistogram:
    """How one evaluator's numerical scores spread: ``bins`` of ``{lower, upper, count}``."""

    evaluator_id: str
    bins: list[Mapping[str, Any]] = field(default_factory=list)
    stats: Mapping[str, Any] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, body: Mapping[str, Any]) -> ScoreHistogram:
        """Build from a response body, keeping it whole in ``raw``."""
        bins = body.get("bins")
        return cls(
            evaluator_id=str(body.get("evaluator_id", "")),
            bins=[dict(b) for b in bins if isinstance(b, Mapping)]
            if isinstance(bins, list)
            else [],
            stats=_mapping(body.get("stats")),
            raw=dict(body),
        )
