"""The progress bar: drawn on a terminal, never on a pipe or under pytest."""

from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from respan_otel.experiments._progress import ProgressBar, wanted


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_wanted_only_on_a_terminal_outside_pytest(monkeypatch: pytest.MonkeyPatch) -> None:
    assert wanted(None, _Tty()) is False, "PYTEST_CURRENT_TEST is set here"
    monkeypatch.delenv("PYTEST_CURRENT_TEST")
    assert wanted(None, _Tty()) is True
    assert wanted(None, io.StringIO()) is False
    assert wanted(True, io.StringIO()) is True
    assert wanted(False, _Tty()) is False


def test_bar_counts_rows_and_errors() -> None:
    stream = io.StringIO()
    bar = ProgressBar("run", 3, stream)
    for failed in (False, True, False):
        bar.advance(failed=failed)
    bar.close()
    text = stream.getvalue()
    assert text.endswith("] 3/3 rows, 1 error\n")
    assert "[########################]" in text


def _cli_rows(tmp_path: Path) -> Path:
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps({"input": q}) + "\n" for q in ("refund", "shipping")))
    return rows


def _env() -> dict[str, str]:
    drop = ("RESPAN_", "OTEL_", "PYTEST_")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def test_cli_draws_the_bar_on_a_terminal_and_not_on_a_pipe(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "respan_otel.cli", "experiment", "run"]
    argv += ["tests.experiments.tasks:answer", "--dataset", str(_cli_rows(tmp_path))]
    piped = subprocess.run(argv, env=_env(), capture_output=True, text=True, timeout=60)
    assert piped.returncode == 0, piped.stderr
    assert piped.stderr == "", "quiet when stderr is not a terminal"

    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            argv, env=_env(), stdout=subprocess.PIPE, stderr=follower, timeout=60, check=False
        )
        os.close(follower)
        drawn = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal's other end is closed: all read
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(leader)
    assert done.returncode == 0
    assert b"] 2/2 rows" in drawn
