"""Experiments: run a task over a dataset, score every output, record the results.

::

    from respan_otel import run_experiment
    from respan_otel.experiments import exact_match

    result = run_experiment("support-qa", answer, scorers=[exact_match])
    print(result.table())

See ``docs/experiments.md`` for what lands where, the CLI and pytest usage.
"""

from respan_otel.experiments._report import Comparison, RowChange, ScoreDelta, compare
from respan_otel.experiments._result import ExperimentResult, RowResult, ScoreSummary
from respan_otel.experiments._run import (
    ExperimentInterrupted,
    run_experiment,
    run_experiment_async,
)
from respan_otel.experiments._runner import skip_experiment_logs
from respan_otel.experiments._scorers import Score, contains, exact_match, json_equal

__all__ = [
    "Comparison",
    "ExperimentInterrupted",
    "ExperimentResult",
    "RowChange",
    "RowResult",
    "Score",
    "ScoreDelta",
    "ScoreSummary",
    "compare",
    "contains",
    "exact_match",
    "json_equal",
    "run_experiment",
    "run_experiment_async",
    "skip_experiment_logs",
]
