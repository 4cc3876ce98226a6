"""The gateway fleet's place in docs/benchmarks.md, shared by ``gateway_fleet.py`` and
``report.py``.

``gateway_fleet.py`` takes about 20 minutes at full settings, too long for ``run.py``, so
it writes its own section, between the ``gateway-fleet`` markers, with its verdict on the
gateway target in a comment. ``run.py`` keeps that section when it rewrites the file (it
follows section 3b, the in-process fleet) and puts the verdict in the Targets table.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
MARK_START, MARK_END = "<!-- gateway-fleet:start -->", "<!-- gateway-fleet:end -->"
TARGET = "gateway ≥ 95 % of the ceiling at N = 16 and 64, 0 lost, 0 429"
_SECTION = re.compile(re.escape(MARK_START) + ".*?" + re.escape(MARK_END) + "\n?", re.S)
_VERDICT = re.compile(r"<!-- gateway-fleet:target (\{.*?\}) -->")
_ROW = re.compile(r"^\| " + re.escape(TARGET) + r" \|.*\|\n", re.M)
TARGET_NS = (16, 64)
TARGET_SHARE = 0.95


def judge(results: list[dict[str, Any]]) -> tuple[str, bool | None]:
    """What was measured for the target, and whether it was met (``None``: not measured)."""
    runs = [r for r in results if r["mode"] == "gateway" and r["n"] in TARGET_NS]
    plain = [r for r in runs if "kill" not in r]
    if not plain:
        return "not measured at N = 16 or 64", None
    parts, met = [], {r["n"] for r in plain} == set(TARGET_NS)
    for run in sorted(runs, key=lambda r: ("kill" in r, r["n"])):
        # killed, the apps' SDKs drop what they cannot hand over: never acknowledged
        lost = run["acked_lost"] if "kill" in run else run["offered"] - run["delivered"]
        label = f"N={run['n']}" + (" kill -9" if "kill" in run else "")
        share = "" if "kill" in run else f"{run['share_of_ceiling']:.1%}, "
        parts.append(
            f"{label}: {share}{lost} lost ({run['acked_lost']} acked), {run['rejected_429']} 429s"
        )
        met = met and lost == 0 and run["acked_lost"] == 0 and run["rejected_429"] == 0
        if "kill" not in run:
            met = met and run["share_of_ceiling"] >= TARGET_SHARE
    return "; ".join(parts), met


def verdict_comment(results: list[dict[str, Any]]) -> str:
    measured, met = judge(results)
    return f"<!-- gateway-fleet:target {json.dumps({'measured': measured, 'met': met})} -->"


def target_row(section: str) -> list[str]:
    """The Targets table's row for the gateway, from a written section's comment."""
    found = _VERDICT.search(section)
    if found is None:
        return [TARGET, "no verdict in the section: rerun benchmarks/gateway_fleet.py", "—"]
    data = json.loads(found.group(1))
    met = data["met"]
    shown = {True: "**met**", False: "**missed**", None: "not measured"}[met]
    return [TARGET, data["measured"], shown]


def kept_section(targets: list[list[str]], path: Path = DOC) -> list[str]:
    """For ``report.py``: the section as last written (or a pointer to the script), and
    the gateway's row added to ``targets``."""
    text = path.read_text() if path.exists() else ""
    found = _SECTION.search(text)
    if found is None:
        targets.append([TARGET, "run `benchmarks/gateway_fleet.py`", "not measured"])
        return [
            MARK_START,
            "## 3c. A fleet through one gateway, against the org limit",
            "",
            "Not measured yet: run `.venv/bin/python benchmarks/gateway_fleet.py` (about 20 "
            "minutes) to write this section.",
            MARK_END,
            "",
        ]
    targets.append(target_row(found.group(0)))
    return [*found.group(0).rstrip("\n").splitlines(), ""]


def write(path: Path, section: str) -> None:
    """Put ``section`` in place of the marked one (or at the end), and the gateway's row
    in the Targets table (after the last row, when the table is there)."""
    text = path.read_text() if path.exists() else ""
    found = _SECTION.search(text)
    text = _SECTION.sub(lambda _: section, text) if found else text + "\n" + section
    row = "| " + " | ".join(target_row(section)) + " |\n"
    if _ROW.search(text):
        text = _ROW.sub(lambda _: row, text)
    else:
        table = re.search(r"^## Targets\n\n(?:\|.*\|\n)+", text, re.M)
        if table is not None:
            text = text[: table.end()] + row + text[table.end() :]
    path.write_text(text)
