"""The examples run offline and show what they promise."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(name: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RESPAN_", "OTEL_"))}
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result


def test_quickstart_round_trip_offline(tmp_path: Path):
    result = run_example("quickstart.py", cwd=tmp_path)
    out = result.stdout
    assert "Stored 11 dataset logs in 'respan-otel quickstart'" in out
    assert out.count("support_agent") == 3
    assert "ValueError: empty question" in out
    assert "'exported': 11, 'failed': 0, 'dropped': 0" in out
    assert "This ran offline" in out
    assert "open http://127.0.0.1:8787/" in out, "the user is told where the viewer is"
    assert (tmp_path / "respan-local.db").is_file(), "kept where `respan-otel serve` looks"
    assert result.stderr == "", "nothing may be printed to stderr: all logging goes through logging"


def test_existing_pipeline_keeps_its_exporter_and_adds_respan():
    result = run_example("existing_pipeline.py")
    out = result.stdout
    assert "existing console exporter received 6 spans" in out
    assert out.count("  explain_invoice\n") == 3
    assert out.count("  db.load_invoice\n") == 3
    assert "Respan dataset 'billing-bot runs' received 3 logs" in out
    assert out.count("explain_invoice: ") == 3, "one log per run, none duplicated"
    assert "db.load_invoice:" not in out, "a plain DB span is not dataset content"
    assert "provider replaced: False" in out
    assert result.stderr == ""


def test_experiment_from_traced_calls_to_a_ci_gate_offline():
    result = run_example("experiment.py")
    out = result.stdout
    assert "1. Traced 4 production runs into 'support-agent production'" in out
    assert "4 rows with expected answers" in out
    assert out.count("results stored in dataset ") == 2
    assert len(re.findall(r"experiment [0-9a-f-]{36}: completed", out)) == 2
    assert "contains  0.000     0.750      +0.750" in out
    assert "3 of 4 rows changed" in out
    assert "CI gate (contains >= 0.75, concise = 1.0): passed" in out
    assert re.search(r"Production dataset: \d+ logs, 0 from experiments", out)
    assert "This ran offline" in out
    # the only line on stderr: logs dropped by before_send count as "dropped" at shutdown
    (line,) = [line for line in result.stderr.splitlines() if line]
    assert re.fullmatch(r"respan_otel: exporter shut down: exported \d+, failed 0, .*", line)
