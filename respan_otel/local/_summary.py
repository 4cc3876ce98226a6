"""Aggregates of dataset logs and experiment logs: the summary endpoints' answers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from respan_otel.local._common import JSONObject
from respan_otel.local._records import as_float, as_integer


def _sum(rows: Sequence[Mapping[str, object]], field: str) -> float:
    return sum(_numbers(rows, field))


def _int_sum(rows: Sequence[Mapping[str, object]], field: str) -> int:
    return sum(as_integer(row.get(field)) or 0 for row in rows)


def _mean(values: Iterable[float]) -> float:
    items = list(values)
    return sum(items) / len(items) if items else 0.0


def _numbers(rows: Sequence[Mapping[str, object]], field: str) -> list[float]:
    return [n for row in rows if (n := as_float(row.get(field))) is not None]


def _tps(rows: Sequence[Mapping[str, object]], tokens: str, seconds: str) -> float:
    rates = []
    for row in rows:
        count, time = as_float(row.get(tokens)), as_float(row.get(seconds))
        if count is not None and time is not None and time > 0:
            rates.append(count / time)
    return _mean(rates)


def score_summary(scores: Iterable[object]) -> JSONObject:
    """Per evaluator: type, name, average score and true/false counts."""
    out: dict[str, JSONObject] = {}
    values: dict[str, list[float]] = {}
    for per_log in scores:
        if not isinstance(per_log, Mapping):
            continue
        for key, score in per_log.items():
            if not isinstance(score, Mapping):
                continue
            entry = out.setdefault(
                str(key),
                {
                    "evaluator_id": str(key),
                    "evaluator_slug": score.get("evaluator_slug"),
                    "evaluator_name": score.get("evaluator_name"),
                    "score_value_type": score.get("score_value_type"),
                    "avg_score": None,
                    "true_count": 0,
                    "false_count": 0,
                },
            )
            boolean = score.get("boolean_value")
            if isinstance(boolean, bool):
                entry["true_count" if boolean else "false_count"] += 1  # type: ignore[operator]
                values.setdefault(str(key), []).append(float(boolean))
            elif (number := as_float(score.get("numerical_value"))) is not None:
                values.setdefault(str(key), []).append(number)
    for key, numbers in values.items():
        out[key]["avg_score"] = _mean(numbers)
    return dict(out)


def dataset_log_summary(rows: Sequence[Mapping[str, object]]) -> JSONObject:
    """``SummarizeDatasetLogsFilteredResponse`` of some dataset logs."""
    prompt = _int_sum(rows, "prompt_tokens")
    completion = _int_sum(rows, "completion_tokens")
    return {
        "number_of_requests": len(rows),
        "total_cost": _sum(rows, "cost"),
        "total_tokens": _int_sum(rows, "total_request_tokens"),
        "total_prompt_tokens": prompt,
        "total_completion_tokens": completion,
        "avg_latency": _mean(_numbers(rows, "latency")),
        "avg_tps": _tps(rows, "completion_tokens", "latency"),
        "avg_ttft": _mean(_numbers(rows, "time_to_first_token")),
        "scores": {},
    }


def experiment_log_summary(rows: Sequence[Mapping[str, object]]) -> JSONObject:
    """``FilterExperimentSpansSummaryResponse`` of some experiment logs."""
    return {
        "number_of_requests": len(rows),
        "total_cost": _sum(rows, "total_cost"),
        "total_tokens": _int_sum(rows, "total_tokens"),
        "total_prompt_tokens": _int_sum(rows, "total_prompt_tokens"),
        "total_completion_tokens": _int_sum(rows, "total_completion_tokens"),
        "avg_latency": _mean(_numbers(rows, "duration")),
        "avg_tps": _tps(rows, "total_completion_tokens", "duration"),
        "avg_ttft": 0.0,
        "scores": score_summary(row.get("scores") for row in rows),
        "status_counts": _counts(row.get("status") for row in rows),
    }


def _counts(values: Iterable[object]) -> dict[str, int]:
    out: dict[str, int] = {}
    for value in values:
        out[str(value)] = out.get(str(value), 0) + 1
    return out


def histogram(values: Sequence[float], bins: int) -> JSONObject:
    """``FilterExperimentScoreHistogramResponse``'s ``bins`` and ``stats`` of some scores."""
    if not values:
        return {"bins": [], "stats": {"min": 0.0, "max": 0.0, "mean": 0.0, "total": 0}}
    low, high = min(values), max(values)
    width = (high - low) / bins if high > low else 1.0
    counts = [0] * bins
    for value in values:
        counts[min(bins - 1, int((value - low) / width))] += 1
    edges = [(low + i * width, low + (i + 1) * width) for i in range(bins)]
    return {
        "bins": [
            {"lower": lo, "upper": hi, "count": n, "label": f"{lo:g}-{hi:g}"}
            for (lo, hi), n in zip(edges, counts, strict=True)
        ],
        "stats": {"min": low, "max": high, "mean": _mean(values), "total": len(values)},
    }
