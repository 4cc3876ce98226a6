# ruff: noqa: RUF001  (the report is typeset: the times sign and en dash are meant)
"""Report section 7: the mapping's cost per span, before and after the row builder."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

TARGET_RATIO = 1.25
"""The mapping's cost per span may grow by at most 25 % (issue "Eval-ready rows")."""


def mapping_table(
    results: dict[str, Any],
    targets: list[list[str]],
    *,
    spread: Callable[[list[float]], str],
    failed: Callable[[Any], str | None],
    verdict: Callable[[bool | None], str],
) -> list[str]:
    """The section, and its targets appended to ``targets`` (report.py's formatters)."""
    lines = ["## 7. Mapping: cost per span, before and after", ""]
    found = results.get("mapping")
    problem = failed(found) if found is not None else "not run"
    if problem:
        lines += [f"Mapping not measured: {problem}", ""]
        targets.append([f"mapping ≤ {TARGET_RATIO}× before", problem, verdict(None)])
        return lines
    lines += [
        "CPU µs per span, median [min–max] over rounds (the ratio is of the best rounds): "
        f"`select_log` as of `{found['baseline'][:10]}` (before) and `RowBuilder.build` "
        "(after: row selection, duplicates, run totals and computed costs included), "
        "timed one right after the other in one process over the same finished spans "
        "(`benchmarks/mapping.py`).",
        "",
        "| spans | count | before µs | after µs | after / before |",
        "|---|---|---|---|---|",
    ]
    titles = (
        ("ours", "our `@trace` spans (~1 KB logs)"),
        ("frameworks", "framework runs (OpenInference, Traceloop, GenAI)"),
    )
    for key, title in titles:
        case = found[key]
        lines.append(
            f"| {title} | {case['spans']:,} | {spread(case['before_us'])} "
            f"| {spread(case['after_us'])} | {case['ratio']:.2f}× |"
        )
        targets.append(
            [
                f"mapping ≤ {TARGET_RATIO}× before per span: {title}",
                f"{case['ratio']:.2f}×",
                verdict(case["ratio"] <= TARGET_RATIO),
            ]
        )
    lines.append("")
    return lines
