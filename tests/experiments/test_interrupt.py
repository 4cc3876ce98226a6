"""Ctrl-C during a run: what finished is kept, in the result and on the backend."""

from __future__ import annotations

import _thread
import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from respan_otel.client._client import RespanClient
from respan_otel.experiments import ExperimentInterrupted, exact_match, run_experiment
from respan_otel.local import LocalRespan

ROWS = [{"input": n, "expected_output": n} for n in range(10)]


def test_ctrl_c_keeps_finished_rows_sync_task(client: RespanClient) -> None:
    release = threading.Event()

    def task(n: int) -> int:
        if n == 4:
            _thread.interrupt_main()  # what Ctrl-C does to the waiting thread
            release.wait(10)
        return n

    try:
        with pytest.raises(ExperimentInterrupted) as caught:
            run_experiment(ROWS, task, scorers=[exact_match], client=client, concurrency=1)
    finally:
        release.set()
    result = caught.value.result
    assert isinstance(caught.value, KeyboardInterrupt)
    assert result.interrupted
    assert [row.index for row in result.rows] == [0, 1, 2, 3]
    assert result.total == 10
    assert result.check({"exact_match": 0.5}) == ["the run was interrupted: 4 of 10 rows"]
    assert result.results_dataset_id is not None
    stored = list(client.datasets.logs.iter(result.results_dataset_id))
    assert sorted(log.metadata["experiment_row"] for log in stored) == [0, 1, 2, 3]


def test_ctrl_c_cancels_async_rows_in_flight() -> None:
    cancelled: list[int] = []

    async def task(n: int) -> int:
        if n == 3:
            _thread.interrupt_main()
        if n >= 3:
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                cancelled.append(n)
                raise
        return n

    started = time.monotonic()
    with pytest.raises(ExperimentInterrupted) as caught:
        run_experiment(ROWS, task, concurrency=2)
    assert time.monotonic() - started < 10, "cancellation does not wait for the sleepers"
    assert [row.index for row in caught.value.result.rows] == [0, 1, 2]
    assert sorted(cancelled) == [3, 4], "the rows in flight were cancelled, not abandoned"


async def test_cancelling_the_async_api_propagates_cancellation() -> None:
    from respan_otel.experiments import run_experiment_async

    async def task(n: int) -> int:
        await asyncio.sleep(0 if n < 2 else 30)
        return n

    running = asyncio.ensure_future(run_experiment_async(ROWS, task, concurrency=1))
    await asyncio.sleep(0.3)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running


def test_cli_sigint_exits_130_and_keeps_what_finished(
    local: LocalRespan, client: RespanClient, tmp_path: Path
) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text(
        "".join(
            f'{{"input": "{q}", "expected_output": "14 days"}}\n'
            for q in ("refund", "shipping", "warranty", "returns")
        )
    )
    marker = tmp_path / "marker"
    output = tmp_path / "out.jsonl"
    env: dict[str, Any] = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("RESPAN_", "OTEL_"))},
        "RESPAN_API_KEY": local.api_key,
        "RESPAN_BASE_URL": local.base_url,
        "EXPERIMENT_MARKER": str(marker),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "respan_otel.cli",
            "experiment",
            "run",
            "tests.experiments.tasks:slow_after_two",
            "--dataset",
            str(rows),
            "--scorer",
            "exact_match",
            "--concurrency",
            "1",
            "--name",
            "interrupted-run",
            "--output",
            str(output),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        assert marker.exists(), process.communicate(timeout=5)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, err
    assert "2 of 4 rows" in out
    assert "INTERRUPTED" in out
    assert len(output.read_text().splitlines()) == 2
    (dataset,) = [d for d in client.datasets.list() if d.name == "interrupted-run"]
    stored = list(client.datasets.logs.iter(dataset.id))
    assert sorted(log.input for log in stored) == ["refund", "shipping"]


def test_interrupted_rows_leave_no_watched_trace_behind() -> None:
    from respan_otel.experiments._spans import collector

    watching = collector()
    assert watching is not None

    async def task(n: int) -> int:
        if n == 1:
            _thread.interrupt_main()
            await asyncio.sleep(30)
        return n

    with pytest.raises(ExperimentInterrupted):
        run_experiment(ROWS, task, concurrency=2)
    assert watching._watched == {}, "a cancelled row stops being watched"
