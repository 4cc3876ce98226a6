"""On the local server a run over a dataset is also an experiment: running -> completed or
failed, progress, and one experiment log per row holding its result."""

from __future__ import annotations

import _thread
import threading

import pytest

from respan_otel.client._client import RespanClient
from respan_otel.experiments import ExperimentInterrupted, exact_match, run_experiment


def seeded(client: RespanClient, name: str, count: int = 4) -> tuple[str, list[str]]:
    dataset = client.datasets.create(name=name)
    ids = [
        client.datasets.logs.create(dataset.id, {"n": n}, expected_output=n % 2).id
        for n in range(count)
    ]
    return dataset.id, ids


def parity(input: dict[str, int]) -> int:
    if input["n"] == 3:
        raise ArithmeticError("no parity for three")
    return input["n"] % 2 if input["n"] != 2 else 1


def test_a_run_over_a_dataset_is_an_experiment_with_its_rows(client: RespanClient) -> None:
    source, ids = seeded(client, "record-parity")
    result = run_experiment(
        source, parity, scorers=[exact_match], name="parity v1", client=client, concurrency=2
    )
    assert result.experiment_id is not None
    experiment = client.experiments.get(result.experiment_id)
    assert experiment.status == "completed"
    assert experiment.progress == 100
    assert experiment.name == "parity v1"
    assert experiment.dataset_id == source
    assert experiment.raw["started_at"]
    assert experiment.raw["completed_at"]

    logs = {log.comparison_key: log for log in client.experiments.logs.iter(result.experiment_id)}
    assert sorted(logs) == sorted(ids)
    by_id = {row.row_id: row for row in result.rows}
    first = logs[ids[0]]
    assert first.status == "success"
    assert first.output == 0
    assert first.scores["exact_match"]["boolean_value"] is True
    assert first.metadata["trace_id"] == by_id[ids[0]].trace_id
    assert first.duration == pytest.approx(by_id[ids[0]].latency)
    wrong = logs[ids[2]]
    assert wrong.scores["exact_match"]["boolean_value"] is False
    failed = logs[ids[3]]
    assert failed.status == "error"
    assert failed.error_message == "ArithmeticError: no parity for three"
    assert failed.scores == {}

    summary = client.experiments.logs.summary(result.experiment_id)
    assert summary.raw, "the experiment-logs summary reads the same rows"


def test_interrupted_run_marks_the_experiment_failed_and_keeps_finished_rows(
    client: RespanClient,
) -> None:
    source, _ids = seeded(client, "record-interrupted", count=6)
    release = threading.Event()

    def task(input: dict[str, int]) -> int:
        if input["n"] == 2:
            _thread.interrupt_main()
            release.wait(10)
        return input["n"] % 2

    try:
        with pytest.raises(ExperimentInterrupted) as caught:
            run_experiment(source, task, client=client, concurrency=1, name="cut short")
    finally:
        release.set()
    result = caught.value.result
    experiment = client.experiments.get(result.experiment_id or "")
    assert experiment.status == "failed"
    assert experiment.error_message == f"interrupted after {len(result.rows)} of 6 rows"
    done = [log for log in client.experiments.logs.iter(experiment.id) if log.status != "pending"]
    assert sorted(log.comparison_key for log in done) == sorted(r.row_id for r in result.rows)


def test_every_row_failing_marks_the_experiment_failed(client: RespanClient) -> None:
    source, _ = seeded(client, "record-all-fail", count=2)

    def broken(input: object) -> None:
        raise ConnectionError("model endpoint down")

    result = run_experiment(source, broken, client=client)
    experiment = client.experiments.get(result.experiment_id or "")
    assert experiment.status == "failed"
    assert experiment.error_message == (
        "the task failed on every row; the first: ConnectionError: model endpoint down"
    )


def test_no_record_for_rows_in_memory_or_when_turned_off(client: RespanClient) -> None:
    source, _ = seeded(client, "record-off", count=1)
    before = client.experiments.count()
    assert run_experiment(source, parity, client=client, experiment=False).experiment_id is None
    in_memory = run_experiment([{"input": {"n": 0}}], parity, client=client)
    assert in_memory.experiment_id is None
    assert in_memory.results_dataset_id is not None
    assert client.experiments.count() == before
    with pytest.raises(ValueError, match="experiment=True needs a dataset on the backend"):
        run_experiment([{"input": {"n": 0}}], parity, client=client, experiment=True)
