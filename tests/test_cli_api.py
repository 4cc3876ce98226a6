"""The respan-otel commands over the API operations of issue 13: dataset summary,
remove-logs and import-spans, and experiments (CRUD, logs, summary), against a local server."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from respan_otel import RespanClient
from respan_otel.cli import main
from respan_otel.local import LocalRespan

KEY = "sk-cli-api"
WORKFLOW = '[{"type": "completion", "config": {"model": "gpt-4o-mini"}}]'


@pytest.fixture(scope="module")
def local() -> Iterator[LocalRespan]:
    with LocalRespan(api_key=KEY) as server:
        yield server


@pytest.fixture
def dataset(local: LocalRespan) -> str:
    with RespanClient(KEY, local.base_url) as client:
        ds = client.datasets.create(name="cli-api").id
        client.datasets.logs.bulk_create(
            ds,
            [
                {
                    "input": f"q{i}",
                    "expected_output": f"a{i}",
                    "metadata": {"model": m},
                    "metrics": {"cost": 0.5, "prompt_tokens": 2, "completion_tokens": 1},
                }
                for i, m in enumerate(["gpt-4o", "gpt-4o-mini", "gpt-4o"])
            ],
        )
    return ds


def run(capsys: pytest.CaptureFixture[str], local: LocalRespan, *argv: str) -> tuple[int, str, str]:
    code = main(["--api-key", KEY, "--base-url", local.base_url, *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_dataset_summary_remove_and_import(
    capsys: pytest.CaptureFixture[str], local: LocalRespan, dataset: str
) -> None:
    code, out, _ = run(capsys, local, "datasets", "summary", dataset)
    assert code == 0
    assert "logs         3" in out
    assert "cost         1.5" in out
    mini = '{"model": {"operator": "eq", "value": ["gpt-4o-mini"]}}'
    code, out, _ = run(capsys, local, "--json", "datasets", "summary", dataset, "--filters", mini)
    assert json.loads(out)["number_of_requests"] == 1

    code, _, err = run(capsys, local, "datasets", "remove-logs", dataset)
    assert code == 2
    assert "--filters" in err
    code, out, _ = run(capsys, local, "datasets", "remove-logs", dataset, "--filters", mini)
    assert (code, out.strip()) == (0, "Removed 1 logs")
    code, out, _ = run(
        capsys,
        local,
        "datasets",
        "import-spans",
        dataset,
        "--start",
        "2025-01-01T00:00:00Z",
        "--end",
        "2025-02-01T00:00:00Z",
    )
    assert code == 0
    assert "no logs were imported" in out
    code, out, _ = run(capsys, local, "datasets", "remove-logs", dataset, "--all")
    assert (code, out.strip()) == (0, "Removed 2 logs")


def test_experiments_commands(
    capsys: pytest.CaptureFixture[str], local: LocalRespan, dataset: str
) -> None:
    code, out, err = run(
        capsys,
        local,
        "--json",
        "experiment",
        "create",
        "--dataset",
        dataset,
        "--workflow",
        WORKFLOW,
        "--evaluator",
        "exact",
        "--name",
        "cli run",
    )
    assert code == 0, err
    experiment = json.loads(out)
    exp = experiment["id"]
    assert (experiment["status"], experiment["log_count"]) == ("pending", 3)

    # one group for running and for managing experiments; the plural spelling is an alias
    for group in ("experiment", "experiments"):
        code, out, _ = run(capsys, local, group, "list")
        assert code == 0
        assert "cli run" in out
    code, out, _ = run(capsys, local, "experiment", "update", exp, "--status", "running")
    assert "running" in out
    code, out, _ = run(capsys, local, "experiment", "logs", exp, "--page-size", "2")
    assert code == 0
    assert "page 1: 2 of 3 rows (next: --page 2)" in out
    with RespanClient(KEY, local.base_url) as client:
        row = next(iter(client.experiments.logs.list(exp)))
        client.experiments.logs.update(
            exp, row.id, input=row.input, output="x", scores={"exact": False}
        )
    code, out, _ = run(capsys, local, "experiment", "summary", exp)
    assert "score exact: 0 true / 1 false" in out
    code, out, _ = run(capsys, local, "--json", "experiment", "get", exp)
    assert json.loads(out)[0]["status"] == "running"
    code, _, err = run(capsys, local, "experiment", "update", exp, "--status", "pending")
    assert code == 1
    assert "cannot go from running to pending" in err
    code, out, _ = run(capsys, local, "experiment", "delete", exp)
    assert (code, out.strip()) == (0, f"Deleted experiment {exp}")
    code, _, err = run(capsys, local, "experiment", "get", exp)
    assert code == 1
    assert "not found" in err.lower()


def test_bad_json_arguments_are_usage_errors(
    capsys: pytest.CaptureFixture[str], local: LocalRespan, dataset: str
) -> None:
    code, _, err = run(
        capsys,
        local,
        "experiment",
        "create",
        "--dataset",
        dataset,
        "--workflow",
        "{}",
        "--evaluator",
        "e",
    )
    assert code == 2
    assert "--workflow must be a JSON array" in err
    code, _, err = run(capsys, local, "datasets", "summary", dataset, "--filters", "[")
    assert code == 2
    assert "--filters is not valid JSON" in err
