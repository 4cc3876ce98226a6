"""The examples run offline and show what they promise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_quickstart_round_trip_offline():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RESPAN_", "OTEL_"))}
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "quickstart.py")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Stored 11 dataset logs in 'respan-otel quickstart'" in out
    assert out.count("support_agent") == 3
    assert "ValueError: empty question" in out
    assert "'exported': 11, 'failed': 0, 'dropped': 0" in out
    assert "This ran offline" in out
    assert result.stderr == "", "nothing may be printed to stderr: all logging goes through logging"
