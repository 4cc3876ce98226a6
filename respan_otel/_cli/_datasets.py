"""``respan-otel datasets``: create, list, summarize; import spans into and remove logs from one."""

from __future__ import annotations

import argparse
from typing import Any

from respan_otel._cli._common import (
    FILTERS_HELP,
    filters_arg,
    open_client,
    print_message,
    print_summary,
)
from respan_otel._cli._text import EXIT_OK, UsageError, print_json, print_table


def add_commands(commands: Any, leaf: list[argparse.ArgumentParser]) -> Any:
    """Add the ``datasets`` group; returns its subcommands (the reading commands add more)."""
    datasets = commands.add_parser("datasets", help="create, list and delete datasets")
    dataset_commands = datasets.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = dataset_commands.add_parser(
        "create",
        parents=leaf,
        help="create an empty dataset",
        description="Create an empty dataset.",
    )
    create.add_argument("name", help="dataset name")
    create.add_argument("--description", default=None, help="dataset description")
    create.set_defaults(func=_datasets_create)
    listing = dataset_commands.add_parser(
        "list", parents=leaf, help="list every dataset", description="List every dataset."
    )
    listing.set_defaults(func=_datasets_list)

    imported = dataset_commands.add_parser(
        "import-spans",
        parents=leaf,
        help="import existing spans from a time range as rows (Respan runs it later)",
        description="Ask Respan to import the spans (or traces) of a time range into a "
        "dataset, in the background. The local server stores no spans: it imports nothing.",
    )
    imported.add_argument("dataset_id", metavar="DATASET_ID")
    imported.add_argument("--start", required=True, metavar="ISO", help="start of the range")
    imported.add_argument("--end", required=True, metavar="ISO", help="end of the range")
    imported.add_argument("--filters", default=None, metavar="JSON", help=FILTERS_HELP)
    imported.add_argument("--sampling", type=int, default=None, metavar="PCT", help="1-100")
    imported.set_defaults(func=_datasets_import_spans)
    removed = dataset_commands.add_parser(
        "remove-logs",
        parents=leaf,
        help="remove the logs matching --filters (or --all)",
        description="Remove the logs of a dataset that match --filters, or every log "
        "with --all. One of the two is required.",
    )
    removed.add_argument("dataset_id", metavar="DATASET_ID")
    removed.add_argument("--filters", default=None, metavar="JSON", help=FILTERS_HELP)
    removed.add_argument("--all", action="store_true", help="remove every log of the dataset")
    removed.set_defaults(func=_datasets_remove_logs)
    summary = dataset_commands.add_parser(
        "summary",
        parents=leaf,
        help="totals and averages of a dataset's logs",
        description="Count, cost, tokens and latency of a dataset's (matching) logs.",
    )
    summary.add_argument("dataset_id", metavar="DATASET_ID")
    summary.add_argument("--filters", default=None, metavar="JSON", help=FILTERS_HELP)
    summary.set_defaults(func=_datasets_summary)
    return dataset_commands


def _datasets_create(args: argparse.Namespace) -> int:
    with open_client(args) as client:
        dataset = client.datasets.create(name=args.name, description=args.description)
    if args.json:
        print_json(dataset.raw)
    else:
        print(f"Created dataset {dataset.name!r} with id {dataset.id}")
    return EXIT_OK


def _datasets_list(args: argparse.Namespace) -> int:
    with open_client(args) as client:
        datasets = list(client.datasets.list())
    if args.json:
        print_json([dataset.raw for dataset in datasets])
        return EXIT_OK
    print_table(
        ["ID", "NAME", "STATUS", "LOGS", "CREATED"],
        (
            [d.id, d.name, d.status, "" if d.log_count is None else d.log_count, d.created_at]
            for d in datasets
        ),
    )
    print(f"{len(datasets)} dataset{'s' if len(datasets) != 1 else ''}")
    return EXIT_OK


def _datasets_import_spans(args: argparse.Namespace) -> int:
    with open_client(args) as client:
        message = client.datasets.logs.import_logs(
            args.dataset_id,
            start_time=args.start,
            end_time=args.end,
            filters=filters_arg(args.filters),
            sampling_percentage=args.sampling,
        )
    return print_message(args, message)


def _datasets_remove_logs(args: argparse.Namespace) -> int:
    filters = filters_arg(args.filters)
    if not filters and not args.all:
        raise UsageError("give --filters to choose logs, or --all to remove every log")
    with open_client(args) as client:
        message = client.datasets.logs.remove(args.dataset_id, filters=filters, all_logs=args.all)
    return print_message(args, message)


def _datasets_summary(args: argparse.Namespace) -> int:
    with open_client(args) as client:
        summary = client.datasets.logs.summary(args.dataset_id, filters=filters_arg(args.filters))
    return print_summary(args, summary)
