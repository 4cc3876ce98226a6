# ruff: noqa: RUF001  (the report is typeset: the times sign and en dash are meant)
"""Report section 7: the mapping's cost per span, before and after the row builder."""

from __future__ import annotations

import statistics
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
        "(after: row selection, duplicates, run totals and computed costs included; our "
        "own JSON parsed, the costlier way: the exporter splices it, below), "
        "timed one right after the other in one process over the same finished spans "
        "(`benchmarks/mapping.py`).",
        "",
        f"| spans | count | before µs | after µs | after / before (target ≤ {TARGET_RATIO}×) |",
        "|---|---|---|---|---|",
    ]
    titles = (
        ("ours", "our `@trace` spans (~1 KB logs)"),
        ("frameworks", "framework runs (OpenInference, Traceloop, GenAI)"),
    )
    for key, title in titles:
        case = found[key]
        growth = (case["ratio"] - 1) * 100
        lines.append(
            f"| {title} | {case['spans']:,} | {spread(case['before_us'])} "
            f"| {spread(case['after_us'])} | {case['ratio']:.2f}× ({growth:+.0f} %) |"
        )
        targets.append(
            [
                f"mapping cost per span ≤ {TARGET_RATIO}× before (≤ +25 %): {title}",
                f"{min(case['before_us']):.1f} → {min(case['after_us']):.1f} µs, "
                f"{case['ratio']:.2f}× ({growth:+.0f} %)",
                verdict(case["ratio"] <= TARGET_RATIO),
            ]
        )
    lines.append("")
    lines += _splice_lines(results.get("throughput"), spread, failed)
    return lines


def _splice_lines(
    throughput: Any, spread: Callable[[list[float]], str], failed: Callable[[Any], str | None]
) -> list[str]:
    """Mapping + encoding with our own JSON spliced (as the exporter does) and parsed."""
    if throughput is None or failed(throughput) or "map_encode_parsed_cpu" not in throughput:
        return []
    spliced, parsed = throughput["map_encode_cpu"], throughput["map_encode_parsed_cpu"]
    ratio = statistics.median(spliced) / statistics.median(parsed)
    return [
        "Mapping + encoding, typical logs per CPU-second (`benchmarks/exporting.py`, same "
        "spans, round by round): our own input/output JSON spliced into the request body "
        f"as the exporter does it {spread(spliced)}; parsed and encoded again "
        f"{spread(parsed)} (×{ratio:.2f}).",
        "",
    ]
