"""The benchmark suite's quick mode runs and produces a sane report (so it never rots)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quick_benchmark_writes_a_sane_report(tmp_path: Path) -> None:
    report = tmp_path / "benchmarks.md"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--output", str(report)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    text = report.read_text()
    assert "quick (smoke run" in text
    for heading in (
        "## Targets",
        "## 1. Decorator overhead per call",
        "## 2. Peer SDKs, same run",
        "## 3. Exporter throughput and delivery",
        "## 3b. Delivery under the organization's limit",
        "## 3c. A fleet through one gateway",
        "## 4. Memory",
        "## 5. Import time",
        "## 7. Mapping: cost per span, before and after",
    ):
        assert heading in text, heading
    assert "not measured" not in text.lower(), text
    assert "could not be set up" not in text
    targets = text.split("## Targets", 1)[1].split("## 1.", 1)[0]
    rows = [line for line in targets.splitlines() if line.startswith("| ") and "---" not in line]
    # the header and one row per target; the gateway's comes from its kept section
    assert len(rows) == 18, rows
    assert all(("**met**" in row) or ("**missed**" in row) for row in rows[1:]), rows
    # every variant of the overhead table has a positive median in each of the 4 shapes
    overhead = text.split("## 1.", 1)[1].split("`OTEL_SDK_DISABLED", 1)[0]
    medians = re.findall(r"\| ([\d,.]+) \[", overhead)
    assert len(medians) == 5 * 4, medians
    assert all(float(m.replace(",", "")) > 0 for m in medians)
    assert re.search(r"Spans exported: ([\d,]+) of \1 made", text), "spans were lost"
    assert re.search(r"the server holds [\d,]+\.", text)
