"""``run_experiment``: the public entry point, its checks, and the sync/async drivers."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from respan_otel._settings import ENV_API_KEY
from respan_otel.experiments._calls import Call, inspect_call
from respan_otel.experiments._progress import ProgressBar, wanted
from respan_otel.experiments._record import Recorder
from respan_otel.experiments._result import ExperimentResult, RowResult
from respan_otel.experiments._rows import (
    Row,
    resolve_dataset,
    rows_from_dataset,
    rows_from_iterable,
)
from respan_otel.experiments._runner import Engine
from respan_otel.experiments._scorers import SCORER_DEFAULTS, SCORER_EXTRA
from respan_otel.experiments._spans import collector

if TYPE_CHECKING:
    from respan_otel.client._client import RespanClient

DEFAULT_CONCURRENCY: Final = 8
_POLL_SECONDS: Final = 0.1  # how often the waiting thread checks for the end (and Ctrl-C)
_START_SECONDS: Final = 5.0  # longest wait for a just-started loop thread to report in
_TASK_EXTRA: Final = frozenset({"row", "expected_output", "metadata"})


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


def under_pytest() -> bool:
    """Running inside a pytest test, where no backend is reached unless asked for."""
    return "PYTEST_CURRENT_TEST" in os.environ


def default_client() -> RespanClient | None:
    """The backend from ``RESPAN_API_KEY``/``RESPAN_BASE_URL``; none under pytest."""
    if under_pytest() or not (os.environ.get(ENV_API_KEY) or "").strip():
        return None
    from respan_otel.client._client import RespanClient

    return RespanClient()


@dataclass
class _Plan:
    name: str
    rows: list[Row]
    task: Call
    scorers: list[Call]
    concurrency: int
    timeout: float | None
    progress: bool
    source_dataset_id: str | None
    recorder: Recorder | None
    description: str
    started: float = field(default_factory=time.monotonic)


def _plan(
    dataset: str | Iterable[Any],
    task: Callable[..., Any],
    *,
    scorers: Sequence[Callable[..., Any]],
    name: str | None,
    concurrency: int,
    timeout: float | None,
    client: RespanClient | None,
    record: bool | None,
    progress: bool | None,
    description: str | None,
) -> _Plan:
    """Check every argument and load the rows, before anything runs."""
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"concurrency must be a positive integer, got {concurrency!r}")
    if timeout is not None and (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not (timeout > 0 and math.isfinite(timeout))
    ):
        raise ValueError(f"timeout must be a positive number of seconds or None, got {timeout!r}")
    if callable(scorers):
        scorers = [scorers]
    task_call = inspect_call(task, role="task", defaults=("input",), extra=_TASK_EXTRA)
    scorer_calls = [
        inspect_call(s, role="scorer", defaults=SCORER_DEFAULTS, extra=SCORER_EXTRA)
        for s in scorers
    ]
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    name = name or f"{task_call.name} {time.strftime('%Y-%m-%d %H:%M:%S')}"
    source: str | None = None
    if isinstance(dataset, str):
        if client is None:
            raise ValueError(
                f"dataset {dataset!r} names a dataset on a backend, but none is configured: "
                f"set {ENV_API_KEY} (and RESPAN_BASE_URL for a local server) or pass client="
                + ("; under pytest pass client= explicitly" if under_pytest() else "")
            )
        source = resolve_dataset(client, dataset)
        rows = rows_from_dataset(client, source)
    else:
        rows = rows_from_iterable(dataset)
    if record and client is None:
        raise ValueError(f"record=True needs a backend: pass client= or set {ENV_API_KEY}")
    recorder = None
    if client is not None and record is not False:
        recorder = Recorder(client, experiment=name, source_dataset_id=source)
    return _Plan(
        name=name,
        rows=rows,
        task=task_call,
        scorers=scorer_calls,
        concurrency=concurrency,
        timeout=None if timeout is None else float(timeout),
        progress=wanted(progress),
        source_dataset_id=source,
        recorder=recorder,
        description=description or f"Results of experiment {name!r}",
    )


async def _flush_while_running(recorder: Recorder) -> None:
    while True:
        await asyncio.sleep(0.5)
        if recorder.due():
            await asyncio.to_thread(recorder.flush)


async def _execute(plan: _Plan) -> tuple[ExperimentResult, bool]:
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
    try:
        await engine.run(plan.rows)
    except asyncio.CancelledError:
        cancelled = True
    finally:
        if bar is not None:
            bar.close()
        if flusher is not None:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
        if recorder is not None:
            await asyncio.to_thread(recorder.flush)
    result = ExperimentResult(
        plan.name,
        engine.results,
        total=len(plan.rows),
        interrupted=cancelled,
        duration=time.monotonic() - plan.started,
        score_sources=engine.score_sources,
        results_dataset_id=recorder.dataset_id if recorder else None,
        source_dataset_id=plan.source_dataset_id,
    )
    return result, cancelled


def _client_for(
    client: RespanClient | None, dataset: object, record: bool | None
) -> tuple[RespanClient | None, bool]:
    """The client to use and whether this call owns (and must close) it."""
    if client is not None or (record is False and not isinstance(dataset, str)):
        return client, False
    made = default_client()
    return made, made is not None


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
    new dataset named after the experiment unless ``record=False``. A progress bar is
    drawn on a terminal only (``progress=`` forces it on or off).

    Ctrl-C stops the run: the rows that finished are written and
    :class:`ExperimentInterrupted` (a ``KeyboardInterrupt``) is raised, carrying them as
    ``.result``. Not for use inside a running event loop's thread if the task needs that
    loop: use :func:`run_experiment_async` there.
    """
    client, owned = _client_for(client, dataset, record)
    try:
        plan = _plan(
            dataset,
            task,
            scorers=scorers,
            name=name,
            concurrency=concurrency,
            timeout=timeout,
            client=client,
            record=record,
            progress=progress,
            description=description,
        )
        result, cancelled = _in_loop_thread(plan)
    finally:
        if owned and client is not None:
            client.close()
    if cancelled:
        raise ExperimentInterrupted(result)
    return result


def _in_loop_thread(plan: _Plan) -> tuple[ExperimentResult, bool]:
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
    progress: bool | None = None,
    description: str | None = None,
) -> ExperimentResult:
    """:func:`run_experiment` for code already inside an event loop (same arguments).

    Rows run on the caller's loop. Loading rows and writing results happen in worker
    threads. If the awaiting task is cancelled, the rows that finished are written and
    ``CancelledError`` propagates as usual.
    """
    client, owned = _client_for(client, dataset, record)
    try:
        plan = await asyncio.to_thread(
            _plan,
            dataset,
            task,
            scorers=scorers,
            name=name,
            concurrency=concurrency,
            timeout=timeout,
            client=client,
            record=record,
            progress=progress,
            description=description,
        )
        result, cancelled = await _execute(plan)
    finally:
        if owned and client is not None:
            client.close()
    if cancelled:
        raise asyncio.CancelledError
    return result
