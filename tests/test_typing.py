"""mypy --strict over a usage file: the decorators keep the callables' types."""

from __future__ import annotations

from pathlib import Path

from mypy import api

USAGE = Path(__file__).parent / "typing" / "usage.py"


def test_usage_file_type_checks_under_strict_mypy(tmp_path):
    stdout, stderr, status = api.run(
        [
            "--strict",
            "--warn-unused-ignores",
            "--no-incremental",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--python-version",
            "3.10",
            str(USAGE),
        ]
    )
    assert status == 0, stdout + stderr
