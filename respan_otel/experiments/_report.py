"""Text reports: the summary table of one run, and the comparison of two."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from respan_otel.experiments._scorers import Score

if TYPE_CHECKING:
    from respan_otel.experiments._result import ExperimentResult, RowResult

_CELL = 48


def _number(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= _CELL else text[: _CELL - 3] + "..."


def _grid(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return lines


def summary_table(result: ExperimentResult) -> str:
    """Scores (mean, pass rate, scored rows, errors) and a line of totals."""
    cells = [
        [
            s.name,
            _number(s.mean),
            "-" if s.pass_rate is None else f"{s.pass_rate:.1%}",
            str(s.count),
            str(s.errors),
        ]
        for s in result.summary.values()
    ]
    lines = [f"experiment {result.name!r}"]
    if cells:
        lines += _grid(["SCORE", "MEAN", "PASS RATE", "SCORED", "ERRORS"], cells)
    else:
        lines.append("no scores")
    done = f"{len(result.rows)} of {result.total} rows" if result.interrupted else ""
    failed = len(result.errors)
    totals = [
        done or f"{len(result.rows)} rows",
        f"{failed} task error{'s' if failed != 1 else ''}",
    ]
    latencies = sorted(r.latency for r in result.rows if r.latency is not None)
    if latencies:
        totals.append(f"latency p50 {latencies[len(latencies) // 2]:.3f}s")
    spend = result.spend()
    if "total_tokens" in spend:
        totals.append(f"{spend['total_tokens']:.0f} tokens")
    if "cost" in spend:
        totals.append(f"cost {spend['cost']:.6f}")
    if result.interrupted:
        totals.append("INTERRUPTED")
    lines.append(", ".join(totals))
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class ScoreDelta:
    """One score's mean in the baseline and the candidate."""

    name: str
    baseline: float | None
    candidate: float | None

    @property
    def delta(self) -> float | None:
        if self.baseline is None or self.candidate is None:
            return None
        return self.candidate - self.baseline


@dataclass(frozen=True, slots=True)
class RowChange:
    """A row whose scores or error differ between the two runs."""

    key: str
    """The source row id both runs share, else ``#<index>``."""
    index: int
    input: Any
    baseline: Mapping[str, Score]
    candidate: Mapping[str, Score]
    baseline_error: str | None
    candidate_error: str | None


@dataclass(frozen=True, slots=True)
class Comparison:
    """How a candidate run differs from a baseline run over the same rows."""

    baseline: str
    candidate: str
    scores: list[ScoreDelta]
    changed: list[RowChange]
    matched: int
    """Rows present in both runs (matched by source row id, else by position)."""

    def table(self) -> str:
        lines = [f"baseline {self.baseline!r} -> candidate {self.candidate!r}"]
        lines += _grid(
            ["SCORE", "BASELINE", "CANDIDATE", "DELTA"],
            [
                [
                    d.name,
                    _number(d.baseline),
                    _number(d.candidate),
                    "-" if d.delta is None else f"{d.delta:+.3f}",
                ]
                for d in self.scores
            ],
        )
        lines.append(f"{len(self.changed)} of {self.matched} rows changed")
        if self.changed:
            lines += _grid(
                ["ROW", "INPUT", "BASELINE", "CANDIDATE"],
                [
                    [
                        f"#{c.index}",
                        _cell(c.input),
                        _cell(c.baseline_error or dict(c.baseline)),
                        _cell(c.candidate_error or dict(c.candidate)),
                    ]
                    for c in self.changed
                ],
            )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline,
            "candidate": self.candidate,
            "matched": self.matched,
            "scores": [
                {"name": d.name, "baseline": d.baseline, "candidate": d.candidate, "delta": d.delta}
                for d in self.scores
            ],
            "changed": [
                {
                    "row": c.key,
                    "index": c.index,
                    "input": c.input,
                    "baseline": dict(c.baseline),
                    "candidate": dict(c.candidate),
                    "baseline_error": c.baseline_error,
                    "candidate_error": c.candidate_error,
                }
                for c in self.changed
            ],
        }


def _keyed(rows: Sequence[RowResult], by_id: bool) -> dict[str, RowResult]:
    return {(row.row_id if by_id and row.row_id else f"#{row.index}"): row for row in rows}


def _differ(before: RowResult, after: RowResult, names: Sequence[str]) -> bool:
    if (before.error is None) != (after.error is None):
        return True
    return any(before.scores.get(name) != after.scores.get(name) for name in names)


def compare(baseline: ExperimentResult, candidate: ExperimentResult) -> Comparison:
    """Score deltas and the rows whose scores or errors changed."""
    by_id = all(r.row_id for r in baseline.rows) and all(r.row_id for r in candidate.rows)
    before, after = _keyed(baseline.rows, by_id), _keyed(candidate.rows, by_id)
    keys = [key for key in before if key in after]
    a, b = baseline.summary, candidate.summary
    common = [name for name in a if name in b]  # a score only one run has is not a change
    changed = [
        RowChange(
            key,
            before[key].index,
            before[key].input,
            before[key].scores,
            after[key].scores,
            before[key].error,
            after[key].error,
        )
        for key in keys
        if _differ(before[key], after[key], common)
    ]
    names = [*a, *(name for name in b if name not in a)]
    deltas = [
        ScoreDelta(
            name,
            a[name].mean if name in a else None,
            b[name].mean if name in b else None,
        )
        for name in names
    ]
    return Comparison(baseline.name, candidate.name, deltas, changed, len(keys))
