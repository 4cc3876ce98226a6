"""A run's plan: every argument checked and the rows loaded before anything runs."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from respan_otel._settings import ENV_API_KEY
from respan_otel.experiments._calls import Call, inspect_call
from respan_otel.experiments._experiment_record import ExperimentRecord, takes_client_runs
from respan_otel.experiments._progress import wanted
from respan_otel.experiments._record import Recorder
from respan_otel.experiments._rows import (
    Row,
    resolve_dataset,
    rows_from_dataset,
    rows_from_iterable,
)
from respan_otel.experiments._scorers import SCORER_DEFAULTS, SCORER_EXTRA

if TYPE_CHECKING:
    from respan_otel.client._client import RespanClient

DEFAULT_CONCURRENCY: Final = 8
_TASK_EXTRA: Final = frozenset({"row", "expected_output", "metadata"})


def under_pytest() -> bool:
    """Running inside a pytest test, where no backend is reached unless asked for."""
    return "PYTEST_CURRENT_TEST" in os.environ


def default_client() -> RespanClient | None:
    """The backend from ``RESPAN_API_KEY``/``RESPAN_BASE_URL``; none under pytest."""
    if under_pytest() or not (os.environ.get(ENV_API_KEY) or "").strip():
        return None
    from respan_otel.client._client import RespanClient

    return RespanClient()


@dataclass(frozen=True)
class Options:
    """The keyword arguments of ``run_experiment``, as given."""

    scorers: Sequence[Callable[..., Any]] = ()
    name: str | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    timeout: float | None = None
    client: RespanClient | None = None
    record: bool | None = None
    experiment: bool | None = None
    progress: bool | None = None
    description: str | None = None


def client_for(dataset: object, options: Options) -> tuple[RespanClient | None, bool]:
    """The client to use and whether the run owns (and must close) it."""
    if options.client is not None or (options.record is False and not isinstance(dataset, str)):
        return options.client, False
    made = default_client()
    return made, made is not None


@dataclass
class Plan:
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


def _check_numbers(options: Options) -> None:
    concurrency, timeout = options.concurrency, options.timeout
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"concurrency must be a positive integer, got {concurrency!r}")
    if timeout is not None and (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not (timeout > 0 and math.isfinite(timeout))
    ):
        raise ValueError(f"timeout must be a positive number of seconds or None, got {timeout!r}")


def make_plan(
    dataset: str | Iterable[Any],
    task: Callable[..., Any],
    options: Options,
    client: RespanClient | None,
) -> Plan:
    """Check every argument and load the rows, before anything runs."""
    _check_numbers(options)
    scorers = options.scorers
    if callable(scorers):
        scorers = [scorers]
    task_call = inspect_call(task, role="task", defaults=("input",), extra=_TASK_EXTRA)
    scorer_calls = [
        inspect_call(s, role="scorer", defaults=SCORER_DEFAULTS, extra=SCORER_EXTRA)
        for s in scorers
    ]
    name = options.name
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    name = name or f"{task_call.name} {time.strftime('%Y-%m-%d %H:%M:%S')}"
    description = options.description or f"Results of experiment {name!r}"
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
    if options.record and client is None:
        raise ValueError(f"record=True needs a backend: pass client= or set {ENV_API_KEY}")
    if options.experiment and (source is None or client is None or options.record is False):
        raise ValueError(
            "experiment=True needs a dataset on the backend (an id or name) and recording"
        )
    recorder = None
    if client is not None and options.record is not False:
        record = None
        wants_record = options.experiment
        if wants_record is None:
            wants_record = takes_client_runs(client)
        if source is not None and wants_record:
            record = ExperimentRecord(
                client,
                name=name,
                description=description,
                source_dataset_id=source,
                task=task_call.name,
                scorers=[s.name for s in scorer_calls],
                concurrency=options.concurrency,
                total=len(rows),
            )
        recorder = Recorder(client, experiment=name, source_dataset_id=source, record=record)
    return Plan(
        name=name,
        rows=rows,
        task=task_call,
        scorers=scorer_calls,
        concurrency=options.concurrency,
        timeout=None if options.timeout is None else float(options.timeout),
        progress=wanted(options.progress),
        source_dataset_id=source,
        recorder=recorder,
        description=description,
    )
