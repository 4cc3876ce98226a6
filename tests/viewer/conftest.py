"""The viewer's fixtures: the quickstart's real runs in a database, served by LocalRespan."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from respan_otel import RespanClient, run_experiment
from respan_otel.experiments import contains
from respan_otel.local import LocalRespan

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
VIEWER_KEY = "sk-viewer-test-0123456789"
PAGED_LOGS = 130


@pytest.fixture(scope="session")
def quickstart_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The database a new user has after running the quickstart once (in its own folder)."""
    folder = tmp_path_factory.mktemp("quickstart")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RESPAN_", "OTEL_"))}
    subprocess.run(
        [sys.executable, str(EXAMPLES / "quickstart.py")],
        cwd=folder,
        env=env,
        capture_output=True,
        timeout=120,
        check=True,
    )
    return folder / "respan-local.db"


def add_paged_dataset(client: RespanClient) -> str:
    """A dataset of PAGED_LOGS logs, one a minute, of mixed types, models and outcomes."""
    dataset = client.datasets.create(name="paged runs")
    start = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
    logs = []
    for i in range(PAGED_LOGS):
        moment = (start + dt.timedelta(minutes=i)).isoformat()
        logs.append(
            {
                "input": {"messages": [{"role": "user", "content": f"question {i:03d}"}]},
                "output": f"answer {i:03d}",
                "metadata": {
                    "log_type": "llm" if i % 2 else "task",
                    "model": "gpt-4o" if i % 3 == 0 else "local-echo-1",
                    "span_name": f"step-{i:03d}",
                },
                "metrics": {"prompt_tokens": 10, "completion_tokens": i, "cost": 0.001 * i},
                "start_time": moment,
                "timestamp": moment,
                "status_code": 500 if i % 10 == 0 else 200,
            }
        )
    client.datasets.logs.bulk_create(dataset.id, logs)
    return dataset.id


def add_experiments(client: RespanClient) -> str:
    """A scored experiment (its rows written as a runner would) and a run_experiment
    result dataset ("support run 1"); returns the experiment's id."""
    rows = [{"input": {"q": f"q{i}"}, "output": "", "expected_output": f"a{i}"} for i in range(3)]
    dataset = client.datasets.create(name="qa").id
    client.datasets.logs.bulk_create(dataset, rows)
    experiment = client.experiments.create(
        dataset_id=dataset,
        workflow=[{"type": "custom", "config": {}}],
        evaluator_slugs=["exact", "similarity"],
        name="prompt v2",
    ).id
    for log in client.experiments.logs.iter(experiment):
        number = int(log.raw["input"]["q"][1:])
        client.experiments.logs.update(
            experiment,
            log.id,
            input=log.raw["input"],
            output=f"a{number}" if number != 2 else "no idea",
            scores={"exact": number != 2, "similarity": 0.5 + number / 10},
            metrics={"cost": 0.001, "latency": 0.2},
        )
    run_experiment(
        "qa",
        lambda question: "a" + question["q"][1:] if question["q"] != "q1" else "?",
        scorers=[contains],
        client=client,
        name="support run 1",
    )
    return experiment


@pytest.fixture(scope="module")
def viewer_server(
    quickstart_db: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalRespan]:
    """A server over a copy of the quickstart's database, plus a dataset to page through."""
    db = tmp_path_factory.mktemp("viewer") / "respan-local.db"
    shutil.copy(quickstart_db, db)
    with LocalRespan(api_key=VIEWER_KEY, db=db) as server:
        with RespanClient(api_key=server.api_key, base_url=server.base_url) as client:
            add_paged_dataset(client)
            add_experiments(client)
        yield server
