"""Where results go on the backend: a results dataset, one log per finished row (and,
where the server takes one, the experiment record of `_experiment_record`).

Written in batches while the run goes, so a crash keeps what was already sent and an
interrupted run keeps what finished. A write that fails is logged (cause and fix) and
never stops the run: the result object in memory always has every row.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from respan_otel._export._mapping import NO_INPUT
from respan_otel._log import logger
from respan_otel._redact import get_redactor
from respan_otel._serialize import to_jsonable
from respan_otel._settings import capture_settings
from respan_otel.client._errors import RespanError
from respan_otel.experiments._experiment_record import ExperimentRecord
from respan_otel.experiments._result import SPEND, RowResult, whole
from respan_otel.experiments._runner import EXPERIMENT_KEY, ROW_KEY

if TYPE_CHECKING:
    from respan_otel.client._client import RespanClient

BATCH_ROWS: Final = 100
"""Rows per bulk request while the run goes (Respan's limit is 500)."""
FLUSH_SECONDS: Final = 5.0
"""Longest time a finished row waits before it is written."""


def _as_dict(value: object) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def result_log(row: RowResult, *, experiment: str, source_dataset_id: str | None) -> dict[str, Any]:
    """The results-dataset log of one row: output, scores as metrics, the source row's id
    (and everything needed to rebuild the row) in metadata."""
    settings = capture_settings()
    redactor = get_redactor(settings.redact_keys)

    def content(value: object) -> Any:
        return to_jsonable(value, redactor=redactor)

    metadata: dict[str, Any] = {
        **_as_dict(content(dict(row.metadata))),
        EXPERIMENT_KEY: experiment,
        ROW_KEY: row.index,
        "score_kinds": {
            k: "bool" if isinstance(v, bool) else "number" for k, v in row.scores.items()
        },
    }
    extra = {
        "source_log_id": row.row_id,
        "source_dataset_id": source_dataset_id,
        "trace_id": row.trace_id,
        "error": row.error,
        "score_errors": dict(row.score_errors) or None,
    }
    metadata.update({key: value for key, value in extra.items() if value is not None})
    metrics: dict[str, float] = {}
    for name in ("latency", *SPEND):
        value = getattr(row, name)
        if value is not None:
            metrics[name] = value
    metrics.update({name: float(value) for name, value in row.scores.items()})
    log: dict[str, Any] = {"input": NO_INPUT, "metadata": metadata, "metrics": metrics}
    if settings.capture_content:  # RESPAN_CAPTURE_CONTENT=false: scores only, no content
        log["input"] = content(row.input)
        if row.output is not None:
            log["output"] = content(row.output)
        if row.expected_output is not None:
            log["expected_output"] = content(row.expected_output)
    return log


def row_from_log(log: Any) -> RowResult:
    """A row rebuilt from its results-dataset log (for comparing stored runs)."""
    metadata: Mapping[str, Any] = log.metadata or {}
    metrics: Mapping[str, Any] = log.metrics or {}
    kinds: Mapping[str, str] = metadata.get("score_kinds") or {}
    scores = {
        k: bool(metrics[k]) if v == "bool" else float(metrics[k])
        for k, v in kinds.items()
        if k in metrics
    }
    reserved = {
        EXPERIMENT_KEY,
        ROW_KEY,
        "score_kinds",
        "source_log_id",
        "source_dataset_id",
        "trace_id",
        "error",
        "score_errors",
    }
    return RowResult(
        index=int(metadata.get(ROW_KEY) or 0),
        input=log.input,
        output=log.output,
        expected_output=log.expected_output,
        metadata={k: v for k, v in metadata.items() if k not in reserved},
        row_id=metadata.get("source_log_id"),
        scores=scores,
        error=metadata.get("error"),
        score_errors=dict(metadata.get("score_errors") or {}),
        latency=metrics.get("latency"),
        prompt_tokens=whole(metrics.get("prompt_tokens")),
        completion_tokens=whole(metrics.get("completion_tokens")),
        total_tokens=whole(metrics.get("total_tokens")),
        llm_calls=whole(metrics.get("llm_calls")),
        cost=metrics.get("cost"),
        trace_id=metadata.get("trace_id"),
    )


class Recorder:
    """Sends finished rows to the results dataset in batches; thread-safe."""

    def __init__(
        self,
        client: RespanClient,
        *,
        experiment: str,
        source_dataset_id: str | None,
        record: ExperimentRecord | None = None,
    ) -> None:
        self._client = client
        self.record = record
        """The experiment whose logs also receive each row, where the backend takes it."""
        self._experiment = experiment
        self._source = source_dataset_id
        self._pending: list[RowResult] = []
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._last_send = time.monotonic()
        self.dataset_id: str | None = None
        self.written = 0
        self.failed = 0

    def start(self, *, description: str) -> None:
        """Create the results dataset, named after the experiment, and the experiment."""
        dataset = self._client.datasets.create(name=self._experiment, description=description)
        self.dataset_id = dataset.id
        if self.record is None:
            return
        try:
            self.record.start()
        except RespanError as exc:
            logger.warning(
                "respan_otel: no experiment record for %r: %s; the results are in dataset %s",
                self._experiment,
                exc,
                self.dataset_id,
            )
            self.record = None

    def finish(self, *, failure: str | None) -> None:
        """Write what is pending, then mark the experiment completed or failed."""
        self.flush()
        if self.record is not None:
            self.record.finish(failure=failure)

    def add(self, row: RowResult) -> None:
        with self._lock:
            self._pending.append(row)

    def due(self) -> bool:
        """A batch is full, or a finished row has waited long enough."""
        with self._lock:
            waiting = len(self._pending)
        return waiting >= BATCH_ROWS or (
            waiting > 0 and time.monotonic() - self._last_send >= FLUSH_SECONDS
        )

    def flush(self) -> None:
        """Write every pending row; failures are logged and counted, never raised."""
        with self._send_lock:
            with self._lock:
                rows, self._pending = self._pending, []
            self._last_send = time.monotonic()
            if not rows or self.dataset_id is None:
                return
            logs = [
                result_log(row, experiment=self._experiment, source_dataset_id=self._source)
                for row in rows
            ]
            self._send(rows, logs)
            if self.record is not None:
                self.record.write(rows, logs)

    def _send(self, rows: list[RowResult], logs: list[dict[str, Any]]) -> None:
        assert self.dataset_id is not None  # flush() sends only after start()
        try:
            outcome = self._client.datasets.logs.bulk_create(self.dataset_id, logs)
        except RespanError as exc:
            self.failed += len(rows)
            logger.warning(
                "respan_otel: %d experiment results were not written to dataset %s: %s; "
                "they are in the returned result (save them with result.to_jsonl(path))",
                len(rows),
                self.dataset_id,
                exc,
            )
            return
        self.written += outcome.success_count
        if outcome.error_count:
            self.failed += outcome.error_count
            logger.warning(
                "respan_otel: %d experiment results were refused by dataset %s (first: "
                "%s); they are in the returned result (result.to_jsonl(path) keeps them)",
                outcome.error_count,
                self.dataset_id,
                outcome.errors[0].error if outcome.errors else "no detail",
            )
