"""The engine: rows through the task and scorers, traced, with bounded concurrency.

Everything runs on one asyncio loop. Async tasks and scorers are awaited on it; sync
ones run in daemon threads (carrying the context, so their spans nest), so a sync task
that hangs past its timeout or an interrupted run never keeps the process alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace

from respan_otel._log import logger
from respan_otel._tracing._handle import RespanSpan
from respan_otel._tracing._propagation import propagate
from respan_otel._tracing._span import span
from respan_otel.experiments._calls import Call, in_daemon_thread, resolve, run_awaitable
from respan_otel.experiments._result import RowResult, whole
from respan_otel.experiments._rows import Row
from respan_otel.experiments._scorers import Score, normalize
from respan_otel.experiments._spans import TraceCollector, spend

_MAX_ERROR_CHARS: Final = 2000
EXPERIMENT_KEY: Final = "experiment"
"""Metadata key stamped on every span of a row (and on its results log): the run's name."""
ROW_KEY: Final = "experiment_row"
"""Metadata key stamped on every span of a row (and on its results log): the row index."""


def skip_experiment_logs(log: dict[str, Any]) -> dict[str, Any] | None:
    """A ``before_send`` hook that keeps the spans of experiment rows out of your datasets:
    ``configure(before_send=skip_experiment_logs)``."""
    metadata = log.get("metadata")
    if isinstance(metadata, dict) and ROW_KEY in metadata:
        return None
    return log


def describe(exc: BaseException) -> str:
    """``Type: message``, bounded, even when ``__str__`` raises."""
    try:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    except Exception:
        text = type(exc).__name__
    return text if len(text) <= _MAX_ERROR_CHARS else text[:_MAX_ERROR_CHARS] + "..."


@dataclass(slots=True)
class _Traced:
    output: Any = None
    error: str | None = None
    latency: float | None = None
    trace_id: str | None = None
    spend: dict[str, float] | None = None
    read: bool = False


class Engine:
    """Runs rows; ``on_row`` is called on the loop for each finished row."""

    def __init__(
        self,
        *,
        experiment: str,
        task: Call,
        scorers: Sequence[Call],
        concurrency: int,
        timeout: float | None,
        collector: TraceCollector | None,
        on_row: Callable[[RowResult], None],
    ) -> None:
        self._experiment = experiment
        self._task = task
        self._scorers = list(scorers)
        self._concurrency = concurrency
        self._timeout = timeout
        self._collector = collector
        self._on_row = on_row
        self.results: list[RowResult] = []
        self.score_sources: dict[str, str] = {}

    async def run(self, rows: Sequence[Row]) -> None:
        """Run every row; on cancellation, cancel the rows in flight and re-raise."""
        pending = iter(rows)

        async def worker() -> None:
            for row in pending:  # one shared iterator: each row is taken once
                result = await self._row(row)
                self.results.append(result)
                self._on_row(result)

        workers = [
            asyncio.ensure_future(worker()) for _ in range(min(self._concurrency, len(rows)))
        ]
        try:
            await asyncio.gather(*workers)
        except BaseException:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            raise

    async def _row(self, row: Row) -> RowResult:
        values = {
            "input": row.input,
            "expected_output": row.expected_output,
            "metadata": dict(row.metadata),
            "row": row.as_dict(),
        }
        traced = await self._traced_task(row, values)
        scores: dict[str, Score] = {}
        score_errors: dict[str, str] = {}
        if traced.error is None:
            values["output"] = traced.output
            for scorer in self._scorers:
                try:
                    named = normalize(scorer.name, await self._call(scorer, values))
                except Exception as exc:
                    score_errors[scorer.name] = describe(exc)
                    logger.debug("respan_otel: scorer %s failed on row %d", scorer.name, row.index)
                    continue
                for name in named:
                    self.score_sources.setdefault(name, scorer.name)
                scores.update(named)
        totals = traced.spend or {}
        return RowResult(
            index=row.index,
            input=row.input,
            output=traced.output,
            expected_output=row.expected_output,
            metadata=dict(row.metadata),
            row_id=row.id,
            scores=scores,
            error=traced.error,
            score_errors=score_errors,
            latency=traced.latency,
            prompt_tokens=whole(totals.get("prompt_tokens")),
            completion_tokens=whole(totals.get("completion_tokens")),
            total_tokens=whole(totals.get("total_tokens")),
            llm_calls=whole(totals.get("llm_calls")),
            cost=totals.get("cost"),
            trace_id=traced.trace_id,
        )

    async def _call(self, call: Call, values: dict[str, Any]) -> Any:
        """One scorer call, sync in a thread or awaited, within the per-row timeout."""
        if call.is_async:
            work: asyncio.Future[Any] = asyncio.ensure_future(resolve(call.invoke(values)))
        else:
            work = in_daemon_thread(
                asyncio.get_running_loop(), lambda: run_awaitable(call.invoke(values))
            )
        return await self._bounded(work)

    async def _bounded(self, work: asyncio.Future[Any]) -> Any:
        if self._timeout is None:
            return await work
        try:
            return await asyncio.wait_for(work, self._timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"took longer than the {self._timeout:g}s timeout") from None

    async def _traced_task(self, row: Row, values: dict[str, Any]) -> _Traced:
        """The task under one root span; output or error, latency, trace id, spend."""
        traced = _Traced()
        metadata: dict[str, Any] = {EXPERIMENT_KEY: self._experiment, ROW_KEY: row.index}
        if row.id is not None:
            metadata["source_log_id"] = row.id
        task = self._task
        started = time.perf_counter()

        @contextlib.contextmanager
        def open_root() -> Iterator[RespanSpan]:
            # each row is its own trace, even when the run is started inside a span
            token = otel_context.attach(otel_trace.set_span_in_context(otel_trace.INVALID_SPAN))
            try:
                with (
                    propagate(metadata=metadata),
                    span(task.name, kind="workflow", input=row.input, metadata=metadata) as root,
                ):
                    watch()
                    yield root
            finally:
                otel_context.detach(token)

        def watch() -> None:
            context = otel_trace.get_current_span().get_span_context()
            if context.is_valid and not traced.read:  # a timed-out row is no longer read
                traced.trace_id = f"{context.trace_id:032x}"
                if self._collector is not None:
                    self._collector.watch(context.trace_id)

        async def run_async() -> Any:
            with open_root() as root:
                output = await resolve(task.invoke(values))
                root.set_output(output)
                return output

        def run_sync() -> Any:
            with open_root() as root:
                output = run_awaitable(task.invoke(values))
                root.set_output(output)
                return output

        if task.is_async:
            work: asyncio.Future[Any] = asyncio.ensure_future(run_async())
        else:
            work = in_daemon_thread(asyncio.get_running_loop(), run_sync)
        try:
            traced.output = await self._bounded(work)
        except Exception as exc:
            traced.error = describe(exc)
        finally:  # cancelled too: the trace is no longer watched, so nothing piles up
            traced.latency = time.perf_counter() - started
            self._read_spans(traced)
        return traced

    def _read_spans(self, traced: _Traced) -> None:
        traced.read = True
        if self._collector is None or traced.trace_id is None:
            return
        traced.spend = spend(self._collector.take(int(traced.trace_id, 16)))
        if "latency" in traced.spend:  # the root span's own duration, as its row has it
            traced.latency = traced.spend["latency"]
