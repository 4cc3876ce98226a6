"""The experiment record, on a backend that takes runs made by the client (the local server).

Respan's create-experiment endpoint starts Respan's own workflow and evaluators over a
dataset; the local server instead snapshots the dataset's rows as ``pending`` experiment
logs and lets a client write each row's result and move the experiment ``running`` ->
``completed``/``failed``. This module does the latter for a run over a dataset.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from respan_otel._log import logger
from respan_otel.client._errors import RespanError
from respan_otel.experiments._result import RowResult

if TYPE_CHECKING:
    from respan_otel.client._client import RespanClient

_LOOPBACK: Final = frozenset({"127.0.0.1", "localhost", "::1"})
WORKFLOW_TYPE: Final = "custom"
"""The workflow step type the record names: the task ran in the client, not the backend."""


def takes_client_runs(client: RespanClient) -> bool:
    """Whether ``client`` talks to a server on this machine (the local server).

    Respan itself runs the experiments it records, so a client-run record is only made
    where the server takes one; ``run_experiment(experiment=True)`` overrides this.
    """
    return (urlsplit(client.base_url).hostname or "") in _LOOPBACK


class ExperimentRecord:
    """An experiment over the source dataset whose logs receive the run's rows."""

    def __init__(
        self,
        client: RespanClient,
        *,
        name: str,
        description: str,
        source_dataset_id: str,
        task: str,
        scorers: Sequence[str],
        concurrency: int,
        total: int,
    ) -> None:
        self._client = client
        self._name = name
        self._description = description
        self._source = source_dataset_id
        self._task = task
        self._scorers = list(scorers)
        self._concurrency = concurrency
        self._total = total
        self._log_ids: dict[str, str] = {}
        self._done = 0
        self.experiment_id: str | None = None

    def start(self) -> None:
        """Create the experiment, learn its logs' ids, and mark it ``running``."""
        created = self._client.experiments.create(
            dataset_id=self._source,
            workflow=[
                {
                    "type": WORKFLOW_TYPE,
                    "config": {"runner": "respan_otel.run_experiment", "task": self._task},
                }
            ],
            evaluator_ids=self._scorers or ["respan_otel.task"],
            name=self._name,
            description=self._description,
            concurrency=self._concurrency,
        )
        self.experiment_id = created.id
        for log in self._client.experiments.logs.iter(created.id):
            if log.comparison_key:
                self._log_ids[log.comparison_key] = log.id
        self._client.experiments.update(created.id, status="running", progress=0)

    def write(self, rows: Sequence[RowResult], logs: Sequence[dict[str, Any]]) -> None:
        """Each row's result into its experiment log (the results-dataset log's fields),
        then the progress; failures are logged, never raised."""
        if self.experiment_id is None:
            return
        try:
            for row, log in zip(rows, logs, strict=True):
                log_id = self._log_ids.get(row.row_id or "")
                if log_id is None:
                    continue
                metrics = {k: v for k, v in log["metrics"].items() if k not in row.scores}
                if "llm_calls" in metrics:  # the experiment log's own name for it
                    metrics["llm_call_count"] = metrics.pop("llm_calls")
                self._client.experiments.logs.update(
                    self.experiment_id,
                    log_id,
                    input=log["input"],
                    output=log.get("output"),
                    metrics=metrics,
                    metadata=log["metadata"],
                    scores=dict(row.scores),
                    status="error" if row.error else "success",
                    error_message=row.error,
                )
                self._done += 1
            progress = 100.0 * self._done / self._total if self._total else 100.0
            self._client.experiments.update(self.experiment_id, progress=min(progress, 100.0))
        except RespanError as exc:
            logger.warning(
                "respan_otel: experiment %s: results of %d rows were not written to its logs: "
                "%s; they are in the results dataset and the returned result",
                self.experiment_id,
                len(rows),
                exc,
            )

    def finish(self, *, failure: str | None) -> None:
        """``completed``, or ``failed`` with ``failure`` as the error message."""
        if self.experiment_id is None:
            return
        try:
            if failure is None:
                self._client.experiments.update(self.experiment_id, status="completed")
            else:
                self._client.experiments.update(
                    self.experiment_id, status="failed", error_message=failure
                )
        except RespanError as exc:
            logger.warning(
                "respan_otel: experiment %s was not marked %s: %s; its logs hold the rows",
                self.experiment_id,
                "completed" if failure is None else "failed",
                exc,
            )
