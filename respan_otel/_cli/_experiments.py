"""``respan-otel experiment``: run a task over a dataset and compare runs; manage experiments."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from typing import Any

from respan_otel._cli._common import (
    FILTERS_HELP,
    filters_arg,
    json_arg,
    open_client,
    print_message,
    print_summary,
)
from respan_otel._cli._text import EXIT_OK, print_json, print_table
from respan_otel._settings import ENV_API_KEY


def add_commands(commands: Any, leaf: list[argparse.ArgumentParser]) -> None:
    """Add the ``experiment`` group (``experiments`` is an alias)."""
    experiment = commands.add_parser(
        "experiment",
        aliases=["experiments"],  # one group, either spelling
        help="run and compare experiments; create, list, change and delete them; read their rows",
    )
    actions = experiment.add_subparsers(dest="action", metavar="ACTION", required=True)
    run = actions.add_parser(
        "run",
        parents=leaf,
        help="run MODULE:TASK over a dataset, score it, gate on the scores",
        description="Run a task over every row of a dataset (on the backend, or a local "
        ".jsonl/.json file of rows), score each output, print a summary table and write "
        "the results to a new dataset named after the experiment. Exits 3 when a "
        "--fail-under threshold is missed, 130 when interrupted (finished rows are kept).",
    )
    run.add_argument("task", metavar="MODULE:TASK", help="the task, e.g. app.agent:answer")
    run.add_argument(
        "--dataset", required=True, metavar="D", help="dataset id or name, or a rows file"
    )
    run.add_argument(
        "--scorer",
        action="append",
        default=[],
        metavar="MODULE:FN",
        help="a scorer, or a built-in: exact_match, contains, json_equal (repeatable)",
    )
    run.add_argument(
        "--fail-under",
        action="append",
        default=[],
        metavar="SCORE=THRESHOLD",
        help="exit 3 if the mean of SCORE is below THRESHOLD (repeatable)",
    )
    run.add_argument(
        "--allow-errors",
        action="store_true",
        help="rows that could not be scored do not fail a --fail-under gate",
    )
    run.add_argument("--name", default=None, help="experiment name (default: task and time)")
    run.add_argument(
        "--concurrency", type=int, default=8, metavar="N", help="rows at once (default: 8)"
    )
    run.add_argument(
        "--row-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="limit on each task and scorer call",
    )
    run.add_argument("--output", default=None, metavar="FILE.jsonl", help="also write the rows")
    run.add_argument("--no-record", action="store_true", help="do not write results to the backend")
    run.set_defaults(func=_experiment_run)
    compare = actions.add_parser(
        "compare",
        parents=leaf,
        help="score deltas and changed rows between two runs",
        description="Compare two runs, each a --output JSONL file or a results dataset "
        "(id or name): mean of every score, the delta, and the rows whose scores changed.",
    )
    compare.add_argument("baseline", metavar="A")
    compare.add_argument("candidate", metavar="B")
    compare.set_defaults(func=_experiment_compare)
    listing = actions.add_parser("list", parents=leaf, help="list every experiment")
    listing.set_defaults(func=_experiments_list)
    shown = actions.add_parser("get", parents=leaf, help="show one experiment")
    shown.add_argument("experiment_id", metavar="EXPERIMENT_ID")
    shown.set_defaults(func=_experiments_get)
    created = actions.add_parser(
        "create",
        parents=leaf,
        help="create (on Respan: start) an experiment over a dataset",
        description="Create an experiment. Give --evaluator (repeatable) or "
        "--evaluator-workflow, not both. On the local server nothing runs.",
    )
    created.add_argument("--dataset", required=True, metavar="DATASET_ID")
    created.add_argument(
        "--workflow",
        required=True,
        metavar="JSON",
        help='steps, e.g. \'[{"type": "completion", "config": {"model": "gpt-4o-mini"}}]\'',
    )
    created.add_argument("--evaluator", action="append", default=None, metavar="ID")
    created.add_argument("--evaluator-workflow", action="append", default=None, metavar="ID")
    created.add_argument("--name", default=None)
    created.add_argument("--description", default=None)
    created.set_defaults(func=_experiments_create)
    updated = actions.add_parser(
        "update",
        parents=leaf,
        help="change an experiment's name, description or run state",
        description="Change the fields given. --status and --progress record a run's "
        "state (the local server keeps them; Respan sets its own).",
    )
    updated.add_argument("experiment_id", metavar="EXPERIMENT_ID")
    updated.add_argument("--name", default=None)
    updated.add_argument("--description", default=None)
    updated.add_argument(
        "--status", default=None, choices=("pending", "running", "completed", "failed")
    )
    updated.add_argument("--progress", type=float, default=None, metavar="PCT")
    updated.set_defaults(func=_experiments_update)
    deleted = actions.add_parser("delete", parents=leaf, help="delete an experiment")
    deleted.add_argument("experiment_id", metavar="EXPERIMENT_ID")
    deleted.set_defaults(func=_experiments_delete)
    rows = actions.add_parser("logs", parents=leaf, help="list one page of an experiment's rows")
    rows.add_argument("experiment_id", metavar="EXPERIMENT_ID")
    rows.add_argument("--filters", default=None, metavar="JSON", help=FILTERS_HELP)
    rows.add_argument("--page", type=int, default=1, help="page number (default: 1)")
    rows.add_argument("--page-size", type=int, default=None, metavar="N", help="at most 100")
    rows.set_defaults(func=_experiments_logs)
    scores = actions.add_parser(
        "summary", parents=leaf, help="totals and per-evaluator scores of an experiment"
    )
    scores.add_argument("experiment_id", metavar="EXPERIMENT_ID")
    scores.add_argument("--filters", default=None, metavar="JSON", help=FILTERS_HELP)
    scores.set_defaults(func=_experiments_summary)


def _experiment_run(args: argparse.Namespace) -> int:
    from respan_otel.experiments._cli import parse_thresholds, run_command

    key = args.api_key or os.environ.get(ENV_API_KEY)
    client = open_client(args) if key and key.strip() else None
    try:
        return run_command(
            task_spec=args.task,
            dataset=args.dataset,
            scorer_specs=args.scorer,
            thresholds=parse_thresholds(args.fail_under),
            allow_errors=args.allow_errors,
            name=args.name,
            concurrency=args.concurrency,
            timeout=args.row_timeout,
            output=args.output,
            client=client,
            record=not args.no_record,
            as_json=args.json,
        )
    finally:
        if client is not None:
            client.close()


def _experiment_compare(args: argparse.Namespace) -> int:
    from respan_otel.experiments._cli import compare_command

    return compare_command(
        args.baseline, args.candidate, lambda: open_client(args), as_json=args.json
    )


def _print_experiments(args: argparse.Namespace, experiments: list[Any]) -> int:
    if args.json:
        print_json([e.raw for e in experiments])
        return EXIT_OK
    print_table(
        ["ID", "NAME", "STATUS", "PROGRESS", "DATASET", "CREATED"],
        ([e.id, e.name, e.status, e.progress, e.dataset_id, e.created_at] for e in experiments),
    )
    return EXIT_OK


def _experiments_list(args: argparse.Namespace) -> int:
    with open_client(args) as client:
        experiments = list(client.experiments.list())
    _print_experiments(args, experiments)
    if not args.json:
        print(f"{len(experiments)} experiment{'s' if len(experiments) != 1 else ''}")
    return EXIT_OK


def _experiments_get(args: argparse.Namespace) -> int:
    with open_client(args) as client:
        experiment = client.experiments.get(args.experiment_id)
    return _print_experiments(args, [experiment])


def _experiments_create(args: argparse.Namespace) -> int:
    workflow = json_arg(args.workflow, "--workflow", list)
    with open_client(args) as client:
        experiment = client.experiments.create(
            dataset_id=args.dataset,
            workflow=workflow,
            evaluator_ids=args.evaluator,
            evaluator_workflow_ids=args.evaluator_workflow,
            name=args.name,
            description=args.description,
        )
    if args.json:
        print_json(experiment.raw)
    else:
        print(f"Created experiment {experiment.name!r} with id {experiment.id}")
    return EXIT_OK


def _experiments_update(args: argparse.Namespace) -> int:
    with open_client(args) as client:
        experiment = client.experiments.update(
            args.experiment_id,
            name=args.name,
            description=args.description,
            status=args.status,
            progress=args.progress,
        )
    return _print_experiments(args, [experiment])


def _experiments_delete(args: argparse.Namespace) -> int:
    with open_client(args) as client:
        client.experiments.delete(args.experiment_id)
    return print_message(args, f"Deleted experiment {args.experiment_id}")


def _experiments_logs(args: argparse.Namespace) -> int:
    with open_client(args) as client:
        page = client.experiments.logs.list(
            args.experiment_id,
            filters=filters_arg(args.filters),
            page=args.page,
            page_size=args.page_size,
        )
    if args.json:
        print_json(page.raw)
        return EXIT_OK
    print_table(
        ["ID", "STATUS", "INPUT", "OUTPUT", "EXPECTED", "SCORES"],
        (
            [r.id, r.status, r.input, r.output, r.expected_output, _scores(r.scores)]
            for r in page.results
        ),
    )
    footer = f"page {args.page}: {len(page.results)} of {page.count} rows"
    if page.next:
        footer += f" (next: --page {args.page + 1})"
    print(footer)
    return EXIT_OK


def _scores(scores: Mapping[str, Any]) -> str:
    parts = []
    for evaluator, score in sorted(scores.items()):
        value = next(
            (score[k] for k in ("numerical_value", "boolean_value", "string_value") if k in score),
            None,
        )
        parts.append(f"{evaluator}={value}")
    return " ".join(parts)


def _experiments_summary(args: argparse.Namespace) -> int:
    with open_client(args) as client:
        summary = client.experiments.logs.summary(
            args.experiment_id, filters=filters_arg(args.filters)
        )
    return print_summary(args, summary)
