"""What ``respan-otel experiment run`` and ``compare`` do, apart from argument parsing."""

from __future__ import annotations

import importlib
import importlib.util
import json
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from respan_otel.experiments._record import row_from_log
from respan_otel.experiments._report import compare
from respan_otel.experiments._result import ExperimentResult
from respan_otel.experiments._rows import resolve_dataset
from respan_otel.experiments._run import ExperimentInterrupted, run_experiment
from respan_otel.experiments._scorers import BUILTINS

if TYPE_CHECKING:
    from respan_otel.client._client import RespanClient

EXIT_THRESHOLD_MISSED: Final = 3
"""Exit status of ``experiment run`` when a ``--fail-under`` threshold is missed."""


def load_callable(spec: str, *, role: str) -> Callable[..., Any]:
    """``module:name`` or ``path/to/file.py:name`` (``name`` may be dotted)."""
    if role == "scorer" and spec in BUILTINS:
        return BUILTINS[spec]
    where, sep, attribute = spec.rpartition(":")
    if not sep or not where or not attribute:
        builtins = f" or a built-in ({', '.join(BUILTINS)})" if role == "scorer" else ""
        raise ValueError(f"{role} {spec!r}: expected MODULE:NAME or FILE.py:NAME{builtins}")
    if where.endswith(".py") or "/" in where or "\\" in where:
        path = Path(where)
        if not path.is_file():
            raise ValueError(f"{role} {spec!r}: no file {where}")
        module_name = f"respan_experiment_{path.stem}"
        found = sys.modules.get(module_name)
        if found is None:
            loader = importlib.util.spec_from_file_location(module_name, path)
            if loader is None or loader.loader is None:
                raise ValueError(f"{role} {spec!r}: cannot import {where}")
            found = importlib.util.module_from_spec(loader)
            sys.modules[module_name] = found
            sys.path.insert(0, str(path.resolve().parent))  # so it imports its neighbours
            loader.loader.exec_module(found)
        target: Any = found
    else:
        if "" not in sys.path:
            sys.path.insert(0, "")  # like python -m: modules in the current directory
        target = importlib.import_module(where)
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ValueError(f"{role} {spec!r}: {where} has no {attribute!r}") from None
    if not callable(target):
        raise ValueError(f"{role} {spec!r} is a {type(target).__name__}, not a callable")
    return target  # type: ignore[no-any-return]


def load_rows(path: Path) -> list[Any]:
    """Rows from a JSON Lines file, or a JSON file holding a list."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        rows = json.loads(text)
        if not isinstance(rows, list):
            raise ValueError(f"{path}: expected a JSON list of rows")
        return rows
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def parse_thresholds(items: Sequence[str]) -> dict[str, float]:
    """``SCORE=THRESHOLD`` pairs."""
    thresholds: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not sep or not name or not math.isfinite(number):
            raise ValueError(f"--fail-under {item!r}: expected SCORE=NUMBER, e.g. exact_match=0.9")
        thresholds[name] = number
    return thresholds


def run_command(
    *,
    task_spec: str,
    dataset: str,
    scorer_specs: Sequence[str],
    thresholds: dict[str, float],
    allow_errors: bool,
    name: str | None,
    concurrency: int,
    timeout: float | None,
    output: str | None,
    client: RespanClient | None,
    record: bool,
    as_json: bool,
) -> int:
    """Run, print the summary, write ``output``; the exit status (gate included)."""
    task = load_callable(task_spec, role="task")
    scorers = [load_callable(spec, role="scorer") for spec in scorer_specs]
    path = Path(dataset)
    if path.suffix in (".json", ".jsonl") and not path.is_file():
        raise ValueError(f"--dataset {dataset}: no such file")
    rows: Any = load_rows(path) if path.is_file() else dataset
    interrupted = False
    try:
        result = run_experiment(
            rows,
            task,
            scorers=scorers,
            name=name,
            concurrency=concurrency,
            timeout=timeout,
            client=client,
            record=record and client is not None,
        )
    except ExperimentInterrupted as stopped:
        result, interrupted = stopped.result, True
    if output:
        result.to_jsonl(output)
    problems = result.check(thresholds, allow_errors=allow_errors) if thresholds else []
    if as_json:
        print(json.dumps(_summary_json(result, problems), indent=2, default=str))
    else:
        print(result.table())
        if result.results_dataset_id:
            print(f"results: dataset {result.results_dataset_id}")
        if result.experiment_id:
            print(f"experiment: {result.experiment_id}")
        if output:
            print(f"rows written to {output}")
    for problem in problems:
        print(f"threshold missed: {problem}", file=sys.stderr)
    if interrupted:
        return 130
    return EXIT_THRESHOLD_MISSED if problems else 0


def _summary_json(result: ExperimentResult, problems: list[str]) -> dict[str, Any]:
    return {
        "name": result.name,
        "rows": len(result.rows),
        "total": result.total,
        "errors": len(result.errors),
        "interrupted": result.interrupted,
        "results_dataset_id": result.results_dataset_id,
        "experiment_id": result.experiment_id,
        "scores": {
            s.name: {
                "mean": s.mean,
                "pass_rate": s.pass_rate,
                "count": s.count,
                "errors": s.errors,
                "min": s.min,
                "max": s.max,
            }
            for s in result.summary.values()
        },
        "spend": result.spend(),
        "thresholds_missed": problems,
    }


def load_result(ref: str, client_factory: Callable[[], RespanClient]) -> ExperimentResult:
    """A run from a JSONL file, else from its results dataset (id or name) on the backend."""
    path = Path(ref)
    if path.is_file():
        return ExperimentResult.from_jsonl(path)
    with client_factory() as client:
        dataset_id = resolve_dataset(client, ref)
        rows = [row_from_log(log) for log in client.datasets.logs.iter(dataset_id)]
        name = client.datasets.get(dataset_id).name or ref
    return ExperimentResult(name, rows, results_dataset_id=dataset_id)


def compare_command(
    baseline: str, candidate: str, client_factory: Callable[[], RespanClient], *, as_json: bool
) -> int:
    """Print score deltas and changed rows."""
    comparison = compare(
        load_result(baseline, client_factory), load_result(candidate, client_factory)
    )
    if as_json:
        print(json.dumps(comparison.to_dict(), indent=2, ensure_ascii=False, default=str))
    else:
        print(comparison.table())
    return 0
