"""respan-otel experiment run / compare: summary, CI gate exit codes, comparisons, both
offline (a rows file) and against the local server over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from respan_otel.cli import main
from respan_otel.client._client import RespanClient
from respan_otel.local import LocalRespan

TASKS = "tests.experiments.tasks"
ROWS = [
    {"input": "refund", "expected_output": "14 days"},
    {"input": "shipping", "expected_output": "2 business days"},
    {"input": "warranty", "expected_output": "2 years"},
    {"input": "returns", "expected_output": "30 days"},
]


@pytest.fixture
def rows_file(tmp_path: Path) -> Path:
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in ROWS))
    return path


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RESPAN_API_KEY", raising=False)
    monkeypatch.delenv("RESPAN_BASE_URL", raising=False)


@pytest.mark.usefixtures("offline")
def test_run_offline_gate_passes_and_fails(
    rows_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["experiment", "run", f"{TASKS}:answer", "--dataset", str(rows_file)]
    base += ["--scorer", "exact_match", "--scorer", f"{TASKS}:polite"]
    assert main([*base, "--fail-under", "exact_match=0.5"]) == 0
    out = capsys.readouterr().out
    assert "exact_match  0.500  50.0%" in out
    assert "polite       1.000" in out
    assert "4 rows, 0 task errors" in out

    assert main([*base, "--fail-under", "exact_match=0.75", "--fail-under", "polite=1"]) == 3
    captured = capsys.readouterr()
    assert "threshold missed: exact_match: mean 0.5 is below 0.75" in captured.err
    assert "polite" not in captured.err

    assert main([*base, "--fail-under", "exactmatch=0.1"]) == 3
    assert "no score named 'exactmatch' (scores: exact_match, polite)" in capsys.readouterr().err

    assert main([*base, "--fail-under", "exact_match"]) == 2
    assert "expected SCORE=NUMBER" in capsys.readouterr().err


@pytest.mark.usefixtures("offline")
def test_run_json_and_compare_two_files(
    rows_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    for task, out in (("answer", a), ("answer_v2", b)):
        argv = ["experiment", "run", f"{TASKS}:{task}", "--dataset", str(rows_file)]
        argv += ["--scorer", "exact_match", "--output", str(out), "--json", "--name", task]
        assert main(argv) == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["rows"] == 4
        assert summary["scores"]["exact_match"]["mean"] == 0.5
    assert main(["experiment", "compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "baseline 'answer' -> candidate 'answer_v2'" in out
    assert "exact_match  0.500     0.500      +0.000" in out
    assert "2 of 4 rows changed" in out
    assert "#1   shipping" in out
    assert "#2   warranty" in out
    assert main(["experiment", "compare", str(a), str(b), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [c["row"] for c in data["changed"]] == ["#1", "#2"]
    assert data["changed"][1]["baseline"] == {"exact_match": False}
    assert data["changed"][1]["candidate"] == {"exact_match": True}


@pytest.mark.usefixtures("offline")
def test_bad_task_and_dataset_are_usage_errors(
    rows_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["experiment", "run", "nomodule", "--dataset", str(rows_file)]) == 2
    assert "expected MODULE:NAME" in capsys.readouterr().err
    assert main(["experiment", "run", f"{TASKS}:missing", "--dataset", str(rows_file)]) == 2
    assert "has no 'missing'" in capsys.readouterr().err
    assert main(["experiment", "run", f"{TASKS}:answer", "--dataset", "support-qa"]) == 2
    assert "none is configured" in capsys.readouterr().err
    assert main(["experiment", "run", f"{TASKS}:answer", "--dataset", "typo.jsonl"]) == 2
    assert "--dataset typo.jsonl: no such file" in capsys.readouterr().err


def test_run_and_compare_against_the_local_server(
    local: LocalRespan, client: RespanClient, tmp_path: Path
) -> None:
    dataset = client.datasets.create(name="cli-support-qa")
    client.datasets.logs.bulk_create(dataset.id, ROWS)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("RESPAN_", "OTEL_"))},
        "RESPAN_API_KEY": local.api_key,
        "RESPAN_BASE_URL": local.base_url,
    }

    def cli(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "respan_otel.cli", *argv],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    for task in ("answer", "answer_v2"):
        done = cli(
            "experiment",
            "run",
            f"{TASKS}:{task}",
            "--dataset",
            "cli-support-qa",
            "--scorer",
            "exact_match",
            "--name",
            f"cli {task}",
            "--fail-under",
            "exact_match=0.5",
        )
        assert done.returncode == 0, done.stderr
        assert "results: dataset " in done.stdout
        assert "experiment: " in done.stdout, "a dataset of the local server: an experiment too"
        assert done.stderr == "", "no progress bar and no log lines when not on a terminal"
    gate = cli(
        "experiment",
        "run",
        f"{TASKS}:answer_v2",
        "--dataset",
        dataset.id,
        "--scorer",
        "exact_match",
        "--fail-under",
        "exact_match=0.9",
        "--no-record",
    )
    assert gate.returncode == 3
    assert "results: dataset" not in gate.stdout
    compared = cli("experiment", "compare", "cli answer", "cli answer_v2")
    assert compared.returncode == 0, compared.stderr
    assert "2 of 4 rows changed" in compared.stdout
    assert local.api_key not in compared.stdout + compared.stderr
