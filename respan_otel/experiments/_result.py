"""What a run returns: one :class:`RowResult` per finished row, summary statistics per
score, records/JSONL out and back in, and the threshold check a CI gate uses."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from respan_otel.experiments._scorers import Score

SPEND: Final = ("prompt_tokens", "completion_tokens", "total_tokens", "cost", "llm_calls")
"""Per-row spend fields, summed by :meth:`ExperimentResult.spend`."""


def whole(value: object) -> int | None:
    """A token count as an ``int`` (the API types them so); ``None`` when not a number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return round(value)


@dataclass(frozen=True, slots=True)
class RowResult:
    """One dataset row run through the task and scored."""

    index: int
    """Position of the row in the dataset (or the iterable given)."""
    input: Any
    output: Any = None
    expected_output: Any = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    row_id: str | None = None
    """The source dataset log's id, when the row came from a dataset."""
    scores: Mapping[str, Score] = field(default_factory=dict)
    error: str | None = None
    """``Type: message`` when the task raised or timed out; no scores then."""
    score_errors: Mapping[str, str] = field(default_factory=dict)
    """Scorer name -> ``Type: message`` for each scorer that raised on this row."""
    latency: float | None = None
    """Seconds the task took."""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    cost: float | None = None
    llm_calls: int | None = None
    """Model calls made by the task (each counted once)."""
    trace_id: str | None = None

    @property
    def ok(self) -> bool:
        """The task returned (its scorers may still have failed)."""
        return self.error is None

    def to_record(self) -> dict[str, Any]:
        """A plain JSON-ready dict of every field."""
        return {
            "index": self.index,
            "row_id": self.row_id,
            "input": self.input,
            "output": self.output,
            "expected_output": self.expected_output,
            "metadata": dict(self.metadata),
            "scores": dict(self.scores),
            "error": self.error,
            "score_errors": dict(self.score_errors),
            "latency": self.latency,
            **{name: getattr(self, name) for name in SPEND},
            "trace_id": self.trace_id,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> RowResult:
        """The inverse of :meth:`to_record` (unknown keys ignored)."""
        scores = record.get("scores") or {}
        return cls(
            index=int(record.get("index") or 0),
            input=record.get("input"),
            output=record.get("output"),
            expected_output=record.get("expected_output"),
            metadata=dict(record.get("metadata") or {}),
            row_id=record.get("row_id"),
            scores={str(k): v if isinstance(v, bool) else float(v) for k, v in scores.items()},
            error=record.get("error"),
            score_errors=dict(record.get("score_errors") or {}),
            latency=record.get("latency"),
            prompt_tokens=whole(record.get("prompt_tokens")),
            completion_tokens=whole(record.get("completion_tokens")),
            total_tokens=whole(record.get("total_tokens")),
            cost=record.get("cost"),
            llm_calls=whole(record.get("llm_calls")),
            trace_id=record.get("trace_id"),
        )


@dataclass(frozen=True, slots=True)
class ScoreSummary:
    """Statistics of one named score over the finished rows."""

    name: str
    count: int
    """Rows that have this score."""
    errors: int
    """Rows that could not be scored: the task failed, or the scorer raised."""
    mean: float | None
    """Mean over scored rows (a bool counts 1/0); ``None`` when no row was scored."""
    pass_rate: float | None
    """For pass/fail scores: share of scored rows that passed; else ``None``."""
    min: float | None
    max: float | None


def summarize(
    rows: Sequence[RowResult], sources: Mapping[str, str] | None = None
) -> dict[str, ScoreSummary]:
    """Per score name: count, errors, mean, pass rate (bools), min and max.

    ``sources`` maps a score name to the scorer that produced it, so a dict-returning
    scorer that raised counts as an error for each of its scores.
    """
    sources = dict(sources or {})
    names: list[str] = []
    for row in rows:
        names.extend(name for name in row.scores if name not in names)
    produced = set(sources.values()) | set(names)
    for row in rows:
        names.extend(n for n in row.score_errors if n not in names and n not in produced)
    summaries: dict[str, ScoreSummary] = {}
    for name in names:
        values = [row.scores[name] for row in rows if name in row.scores]
        scorer = sources.get(name, name)
        errors = sum(
            1
            for row in rows
            if name not in row.scores and (row.error is not None or scorer in row.score_errors)
        )
        numbers = [float(v) for v in values]
        summaries[name] = ScoreSummary(
            name=name,
            count=len(values),
            errors=errors,
            mean=math.fsum(numbers) / len(numbers) if numbers else None,
            pass_rate=(
                sum(1 for v in values if v is True) / len(values)
                if values and all(isinstance(v, bool) for v in values)
                else None
            ),
            min=min(numbers) if numbers else None,
            max=max(numbers) if numbers else None,
        )
    return summaries


class ExperimentResult:
    """The outcome of :func:`~respan_otel.run_experiment`.

    ``rows`` holds the finished rows in dataset order; ``summary`` the statistics per
    score. After an interrupted run ``interrupted`` is true and ``rows`` holds what
    finished before it (``total`` is how many rows there were).
    """

    def __init__(
        self,
        name: str,
        rows: Iterable[RowResult],
        *,
        total: int | None = None,
        interrupted: bool = False,
        duration: float | None = None,
        score_sources: Mapping[str, str] | None = None,
        experiment_id: str | None = None,
        results_dataset_id: str | None = None,
        source_dataset_id: str | None = None,
    ) -> None:
        self.name = name
        self.rows: list[RowResult] = sorted(rows, key=lambda row: row.index)
        self.total = len(self.rows) if total is None else total
        self.interrupted = interrupted
        self.duration = duration
        self.score_sources = dict(score_sources or {})
        self.experiment_id = experiment_id
        """The experiment record on the backend, when one was written."""
        self.results_dataset_id = results_dataset_id
        """The dataset holding one log per row, when results were written."""
        self.source_dataset_id = source_dataset_id

    @property
    def summary(self) -> dict[str, ScoreSummary]:
        """Statistics per score name, in the order scores first appeared."""
        return summarize(self.rows, self.score_sources)

    @property
    def errors(self) -> list[RowResult]:
        """Rows whose task raised or timed out."""
        return [row for row in self.rows if row.error is not None]

    def scores(self, name: str) -> list[Score]:
        """Every value of one score, in row order."""
        return [row.scores[name] for row in self.rows if name in row.scores]

    def spend(self) -> dict[str, float]:
        """Tokens and cost summed over the rows that report them."""
        totals: dict[str, float] = {}
        for row in self.rows:
            for name in SPEND:
                value = getattr(row, name)
                if value is not None:
                    totals[name] = totals.get(name, 0.0) + value
        return totals

    def check(self, thresholds: Mapping[str, float], *, allow_errors: bool = False) -> list[str]:
        """Why the run misses ``thresholds`` (score name -> lowest acceptable mean);
        empty when it meets them all.

        A threshold is missed when its score's mean is lower, when no row has the score,
        when rows could not be scored (unless ``allow_errors``), or when the run was
        interrupted.
        """
        problems: list[str] = []
        if self.interrupted:
            problems.append(f"the run was interrupted: {len(self.rows)} of {self.total} rows")
        summary = self.summary
        for name, threshold in thresholds.items():
            found = summary.get(name)
            if found is None:
                known = ", ".join(summary) or "none"
                problems.append(f"no score named {name!r} (scores: {known})")
            elif found.mean is None:
                problems.append(f"{name}: no row was scored")
            elif found.mean < threshold:
                problems.append(f"{name}: mean {found.mean:.4g} is below {threshold:g}")
            if found is not None and found.errors and not allow_errors:
                problems.append(
                    f"{name}: {found.errors} of {len(self.rows)} rows could not be scored "
                    "(task or scorer errors; see row.error and row.score_errors)"
                )
        return problems

    def assert_scores(self, *, allow_errors: bool = False, **thresholds: float) -> None:
        """``assert``-style gate for tests: raises ``AssertionError`` listing every missed
        threshold and the summary table, e.g. ``result.assert_scores(exact_match=0.9)``."""
        problems = self.check(thresholds, allow_errors=allow_errors)
        if problems:
            raise AssertionError("\n".join([*problems, "", self.table()]))

    def to_records(self) -> list[dict[str, Any]]:
        """One plain dict per finished row (``experiment`` names the run)."""
        return [{"experiment": self.name, **row.to_record()} for row in self.rows]

    def to_jsonl(self, path: str | Path | None = None) -> str:
        """The records as JSON Lines; also written to ``path`` when given."""
        text = "".join(
            json.dumps(record, ensure_ascii=False, default=str) + "\n"
            for record in self.to_records()
        )
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    @classmethod
    def from_records(
        cls, records: Iterable[Mapping[str, Any]], *, name: str | None = None
    ) -> ExperimentResult:
        """A result rebuilt from :meth:`to_records` output (for comparisons)."""
        items = list(records)
        if name is None:
            name = str(items[0].get("experiment") or "experiment") if items else "experiment"
        return cls(name, (RowResult.from_record(item) for item in items))

    @classmethod
    def from_jsonl(cls, path: str | Path, *, name: str | None = None) -> ExperimentResult:
        """A result read back from a :meth:`to_jsonl` file."""
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        return cls.from_records((json.loads(line) for line in lines if line.strip()), name=name)

    def table(self) -> str:
        """The summary as a small text table, with row, error and spend totals."""
        from respan_otel.experiments._report import summary_table

        return summary_table(self)

    def __repr__(self) -> str:
        means = ", ".join(
            f"{s.name}={s.mean:.3g}" for s in self.summary.values() if s.mean is not None
        )
        state = " interrupted" if self.interrupted else ""
        return (
            f"ExperimentResult({self.name!r}, {len(self.rows)}/{self.total} rows{state}, "
            f"{len(self.errors)} errors, {means or 'no scores'})"
        )
