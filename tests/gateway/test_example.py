"""examples/gateway/fleet.py runs offline and shows what it promises."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "gateway" / "fleet.py"


def test_three_processes_one_gateway_one_request():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RESPAN_", "OTEL_"))}
    result = subprocess.run(
        [sys.executable, str(EXAMPLE)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Stored 15 dataset logs from 3 app processes" in result.stdout
    assert "received 15 spans, durable 15, delivered 15 rows in" in result.stdout
    assert result.stderr == ""
