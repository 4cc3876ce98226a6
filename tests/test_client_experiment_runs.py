"""Running an experiment through RespanClient against the local server: the experiment's
status and progress, its per-row logs (list/get/update), summaries and histograms."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from respan_otel import RespanClient
from respan_otel.client._errors import NotFoundError, ValidationError
from respan_otel.local import LocalRespan

WORKFLOW = [{"type": "completion", "config": {"model": "gpt-4o-mini"}}]


@pytest.fixture(scope="module")
def local() -> Iterator[LocalRespan]:
    with LocalRespan(api_key="sk-local-runs") as server:
        yield server


@pytest.fixture
def client(local: LocalRespan) -> Iterator[RespanClient]:
    with RespanClient(local.api_key, local.base_url) as c:
        yield c


def _experiment(client: RespanClient, rows: int = 3) -> tuple[str, str]:
    ds = client.datasets.create(name="run-rows")
    client.datasets.logs.bulk_create(
        ds.id,
        [
            {"input": {"q": f"q{i}"}, "expected_output": f"a{i}", "metadata": {"i": i}}
            for i in range(rows)
        ],
    )
    exp = client.experiments.create(dataset_id=ds.id, workflow=WORKFLOW, evaluator_ids=["exact"])
    return ds.id, exp.id


def test_a_run_goes_pending_running_completed_with_results_per_row(client: RespanClient) -> None:
    ds, exp = _experiment(client)
    created = client.experiments.get(exp)
    assert (created.status, created.progress, created.started_at) == ("pending", 0.0, None)
    assert created.raw["log_count"] == 3

    page = client.experiments.logs.list(exp)
    assert page.count == 3
    rows = {log.expected_output: log for log in page}
    assert set(rows) == {"a0", "a1", "a2"}
    assert {log.status for log in page} == {"pending"}
    dataset_ids = {log.id for log in client.datasets.logs.iter(ds)}
    assert {log.comparison_key for log in page} == dataset_ids, "rows keep their dataset row id"

    running = client.experiments.update(exp, status="running", progress=0)
    assert running.status == "running"
    assert running.started_at is not None

    for done, (expected, log) in enumerate(sorted(rows.items()), start=1):
        answer = client.experiments.logs.update(
            exp,
            log.id,
            input=log.input,
            output=expected if expected != "a2" else "wrong",
            metrics={"cost": 0.5, "prompt_tokens": 10, "completion_tokens": 5, "latency": 1.5},
            metadata={"model": "stub"},
            scores={"exact": expected != "a2", "similarity": 0.25 * done},
        )
        assert answer == {"id": log.id, "trace_unique_id": log.id, "status": "success"}
        client.experiments.update(exp, progress=100 * done / 3)

    one = client.experiments.logs.get(exp, rows["a0"].id)
    assert one.output == "a0"
    assert one.metadata == {"i": 0, "model": "stub"}
    assert one.scores["exact"]["boolean_value"] is True
    assert one.scores["similarity"]["numerical_value"] == 0.25
    assert (one.total_cost, one.total_tokens, one.duration) == (0.5, 15, 1.5)
    assert one.raw["span_tree"] == []

    summary = client.experiments.logs.summary(exp)
    assert summary.number_of_requests == 3
    assert summary.total_cost == 1.5
    assert summary.total_tokens == 45
    assert summary.scores["exact"]["true_count"] == 2
    assert summary.scores["exact"]["false_count"] == 1
    assert summary.scores["similarity"]["avg_score"] == pytest.approx(0.5)
    wrong = client.experiments.logs.summary(
        exp, filters={"output": {"operator": "eq", "value": "wrong"}}
    )
    assert wrong.number_of_requests == 1

    histogram = client.experiments.logs.histogram(exp, "similarity", bins=3)
    assert [b["count"] for b in histogram.bins] == [1, 1, 1]
    assert histogram.stats["total"] == 3

    done = client.experiments.update(exp, status="completed")
    assert (done.status, done.progress) == ("completed", 100.0)
    assert done.completed_at is not None
    with pytest.raises(ValidationError, match="cannot go from completed to running"):
        client.experiments.update(exp, status="running")


def test_a_failed_row_and_a_failed_run(client: RespanClient) -> None:
    _, exp = _experiment(client, rows=1)
    (log,) = client.experiments.logs.list(exp)
    answer = client.experiments.logs.update(
        exp, log.id, input=log.input, output=None, error_message="model timed out"
    )
    assert answer["status"] == "error"
    assert client.experiments.logs.get(exp, log.id).raw["error_count"] == 1
    failed = client.experiments.update(exp, status="failed", error_message="1 row failed")
    assert (failed.status, failed.error_message) == ("failed", "1 row failed")
    assert failed.started_at is not None
    assert failed.completed_at is not None


def test_results_are_validated_like_the_api(client: RespanClient, local: LocalRespan) -> None:
    _, exp = _experiment(client, rows=1)
    (log,) = client.experiments.logs.list(exp)
    url = f"{local.base_url}/api/v2/experiments/{exp}/logs/{log.id}/"
    headers = {"Authorization": f"Bearer {local.api_key}"}
    for body, field in [
        ({"output": "x"}, "input"),
        ({"input": "x"}, "output"),
        ({"input": "x", "output": "y", "metrics": {"prompt_tokens": 1.5}}, "metrics"),
        ({"input": "x", "output": "y", "scores": {"e": [1]}}, "scores.e"),
        ({"input": "x", "output": "y", "status": "done"}, "status"),
    ]:
        r = requests.patch(url, json=body, headers=headers, timeout=10)
        assert r.status_code == 400, body
        assert field in r.json()["errors"], r.json()
    with pytest.raises(NotFoundError):
        client.experiments.logs.get(exp, "0" * 32)


def test_experiment_crud_and_single_pages(client: RespanClient) -> None:
    ds, exp = _experiment(client, rows=2)
    other = client.datasets.create(name="other-rows")
    client.datasets.logs.create(other.id, "only row")
    moved = client.experiments.update(exp, dataset_id=other.id, name="renamed")
    assert (moved.dataset_id, moved.name, moved.raw["log_count"]) == (other.id, "renamed", 1)
    assert [log.input for log in client.experiments.logs.iter(exp)] == ["only row"]
    replaced = client.experiments.replace(
        exp, dataset_id=ds, workflow=WORKFLOW, evaluator_workflow_ids=["wf"]
    )
    assert (replaced.evaluator_ids, replaced.evaluator_workflow_ids) == ([], ["wf"])
    assert replaced.raw["log_count"] == 2
    client.experiments.update(exp, status="running")
    with pytest.raises(ValidationError, match="started experiment"):
        client.experiments.update(exp, dataset_id=other.id)

    page = client.experiments.list_page(page_size=1)
    assert page.count >= 1
    assert len(page) == 1
    assert client.experiments.count() == page.count
    datasets = client.datasets.list_page(page_size=1, sort_by="name")
    assert len(datasets) == 1
    assert datasets.count >= 2

    client.experiments.delete(exp)
    with pytest.raises(NotFoundError):
        client.experiments.get(exp)
    with pytest.raises(NotFoundError):
        client.experiments.logs.list(exp)


def test_bad_update_arguments_fail_before_sending(client: RespanClient) -> None:
    with pytest.raises(ValueError, match="status"):
        client.experiments.update("x", status="done")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="progress"):
        client.experiments.update("x", progress=101)
    with pytest.raises(ValueError, match="at least one"):
        client.experiments.update("x")
    with pytest.raises(ValueError, match="bins"):
        client.experiments.logs.histogram("x", "e", bins=0)
