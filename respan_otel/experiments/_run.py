"""``run_experiment``: the public entry point, its checks, and the sync/async drivers."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final

from respan_otel.experiments._plan import DEFAULT_CONCURRENCY, Options, Plan, client_for, make_plan
from respan_otel.experiments._progress import ProgressBar
from respan_otel.experiments._record import Recorder
from respan_otel.experiments._result import ExperimentResult, RowResult
from respan_otel.experiments._runner import Engine, describe
from respan_otel.experiments._spans import collector

if TYPE_CHECKING:
    from respan_otel.client._client import RespanClient

_POLL_SECONDS: Final = 0.1  # how often the waiting thread checks for the end (and Ctrl-C)
_START_SECONDS: Final = 5.0  # longest wait for a just-started loop thread to report in


class ExperimentInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped :func:`run_experiment`; ``result`` holds the rows that finished.

    A ``KeyboardInterrupt``, so a program that does not catch it still stops as usual.
    """

    def __init__(self, result: ExperimentResult) -> None:
        super().__init__(
            f"experiment {result.name!r} interrupted: {len(result.rows)} of "
            f"{result.total} rows finished"
        )
        self.result = result


async def _flush_while_running(recorder: Recorder) -> None:
    while True:
        await asyncio.sleep(0.5)
        if recorder.due():
            await asyncio.to_thread(recorder.flush)


def _failure(result: ExperimentResult, crash: BaseException | None) -> str | None:
    """Why the run counts as failed (the experiment record's error message), or ``None``."""
    if crash is not None:
        return f"the run stopped: {describe(crash)}"
    if result.interrupted:
        return f"interrupted after {len(result.rows)} of {result.total} rows"
    if result.rows and all(row.error for row in result.rows):
        return f"the task failed on every row; the first: {result.rows[0].error}"
    return None


async def _execute(plan: Plan) -> tuple[ExperimentResult, bool]:
    """Run the plan; returns the result and whether it was cancelled part-way."""
    recorder = plan.recorder
    if recorder is not None:
        await asyncio.to_thread(recorder.start, description=plan.description)
    bar = ProgressBar(plan.name, len(plan.rows)) if plan.progress else None

    def on_row(row: RowResult) -> None:
        if bar is not None:
            bar.advance(failed=row.error is not None)
        if recorder is not None:
            recorder.add(row)

    engine = Engine(
        experiment=plan.name,
        task=plan.task,
        scorers=plan.scorers,
        concurrency=plan.concurrency,
        timeout=plan.timeout,
        collector=collector(),
        on_row=on_row,
    )
    flusher = asyncio.ensure_future(_flush_while_running(recorder)) if recorder else None
    cancelled = False
    crash: BaseException | None = None
    try:
        await engine.run(plan.rows)
    except asyncio.CancelledError:
        cancelled = True
    except BaseException as exc:  # recorded as the experiment's failure, then re-raised
        crash = exc
        raise
    finally:
        if bar is not None:
            bar.close()
        if flusher is not None:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
        result = _result(plan, engine, cancelled)
        if recorder is not None:
            await asyncio.to_thread(recorder.finish, failure=_failure(result, crash))
    return result, cancelled


def _result(plan: Plan, engine: Engine, cancelled: bool) -> ExperimentResult:
    recorder = plan.recorder
    record = recorder.record if recorder is not None else None
    return ExperimentResult(
        plan.name,
        engine.results,
        total=len(plan.rows),
        interrupted=cancelled,
        duration=time.monotonic() - plan.started,
        score_sources=engine.score_sources,
        experiment_id=record.experiment_id if record is not None else None,
        results_dataset_id=recorder.dataset_id if recorder is not None else None,
        source_dataset_id=plan.source_dataset_id,
    )


def run_experiment(
    dataset: str | Iterable[Any],
    task: Callable[..., Any],
    *,
    scorers: Sequence[Callable[..., Any]] = (),
    name: str | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    timeout: float | None = None,
    client: RespanClient | None = None,
    record: bool | None = None,
    experiment: bool | None = None,
    progress: bool | None = None,
    description: str | None = None,
) -> ExperimentResult:
    """Run ``task`` over every row of ``dataset``, score each output, record the results.

    ``dataset`` is a dataset id or name on the backend, or any iterable of rows
    (``{"input": ..., "expected_output": ..., "metadata": {...}}``, dataset logs, or bare
    inputs). ``task`` (sync or async) gets each row's input, and the whole row if it has
    a ``row`` parameter; each row runs under its own root span, so its tokens, cost,
    latency and trace id are read from the spans. ``scorers`` (sync or async) get
    ``(input, output, expected_output)`` and return a number, a bool or a dict of named
    numbers; one that raises records an error on that row. At most ``concurrency`` rows
    run at once; ``timeout`` bounds each task and scorer call in seconds.

    The backend is ``client``, else the one ``RESPAN_API_KEY``/``RESPAN_BASE_URL`` name
    (never under pytest: pass ``client=`` there). With a backend, results are written to a
    new dataset named after the experiment unless ``record=False``; for a dataset on a
    server that takes client-run experiments (the local server), also to an experiment
    over it with status and progress (``experiment=`` forces this on or off). A progress
    bar is drawn on a terminal only (``progress=`` forces it on or off).

    Ctrl-C stops the run: the rows that finished are written and
    :class:`ExperimentInterrupted` (a ``KeyboardInterrupt``) is raised, carrying them as
    ``.result``. Not for use inside a running event loop's thread if the task needs that
    loop: use :func:`run_experiment_async` there.
    """
    options = Options(
        scorers, name, concurrency, timeout, client, record, experiment, progress, description
    )
    backend, owned = client_for(dataset, options)
    try:
        plan = make_plan(dataset, task, options, backend)
        result, cancelled = _in_loop_thread(plan)
    finally:
        if owned and backend is not None:
            backend.close()
    if cancelled:
        raise ExperimentInterrupted(result)
    return result


def _in_loop_thread(plan: Plan) -> tuple[ExperimentResult, bool]:
    """Run the plan on a loop in a daemon thread while this thread waits for Ctrl-C.

    Waiting here, not running the loop here, makes Ctrl-C behave the same on every
    Python version: the run is cancelled cleanly and what finished is kept.
    """
    started = threading.Event()
    done = threading.Event()
    state: dict[str, Any] = {}

    async def main() -> tuple[ExperimentResult, bool]:
        state["loop"], state["task"] = asyncio.get_running_loop(), asyncio.current_task()
        started.set()
        return await _execute(plan)

    def body() -> None:
        try:
            state["outcome"] = asyncio.run(main())
        except BaseException as exc:
            state["error"] = exc
        finally:
            started.set()
            done.set()

    context = contextvars.copy_context()  # propagate() values of the caller reach the rows
    thread = threading.Thread(
        target=context.run, args=(body,), name="respan-experiment", daemon=True
    )
    try:
        thread.start()  # inside the try: fast rows can be interrupted before start() returns
        while not done.wait(_POLL_SECONDS):
            pass
    except KeyboardInterrupt:
        if not started.wait(_START_SECONDS):  # interrupted before the loop ever ran
            raise
        if not done.is_set():
            with contextlib.suppress(RuntimeError):  # the loop just closed
                state["loop"].call_soon_threadsafe(state["task"].cancel)
        while not done.wait(_POLL_SECONDS):  # a second Ctrl-C leaves at once
            pass
    if "error" in state:
        raise state["error"]
    outcome: tuple[ExperimentResult, bool] = state["outcome"]
    return outcome


async def run_experiment_async(
    dataset: str | Iterable[Any],
    task: Callable[..., Any],
    *,
    scorers: Sequence[Callable[..., Any]] = (),
    name: str | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    timeout: float | None = None,
    client: RespanClient | None = None,
    record: bool | None = None,
    experiment: bool | None = None,
    progress: bool | None = None,
    description: str | None = None,
) -> ExperimentResult:
    """:func:`run_experiment` for code already inside an event loop (same arguments).

    Rows run on the caller's loop. Loading rows and writing results happen in worker
    threads. If the awaiting task is cancelled, the rows that finished are written and
    ``CancelledError`` propagates as usual.
    """
    options = Options(
        scorers, name, concurrency, timeout, client, record, experiment, progress, description
    )
    backend, owned = client_for(dataset, options)
    try:
        plan = await asyncio.to_thread(make_plan, dataset, task, options, backend)
        result, cancelled = await _execute(plan)
    finally:
        if owned and backend is not None:
            backend.close()
    if cancelled:
        raise asyncio.CancelledError
    return result
