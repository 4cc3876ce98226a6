"""The CLI's reading commands: ``logs list/show/get/export/import`` and ``datasets delete``.

Every command takes a dataset's name wherever it takes its id. ``cli.py`` adds them to its
parser with :func:`add_commands`, passing the function that opens a client.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, TextIO

from respan_otel import _tracetree as tracetree
from respan_otel._cli._common import filters_arg
from respan_otel._cli._text import (
    EXIT_API_ERROR,
    EXIT_OK,
    Progress,
    UsageError,
    block,
    money,
    print_json,
    print_table,
    seconds,
    trace_lines,
)
from respan_otel._datasets import is_dataset_id
from respan_otel.client._client import BULK_MAX_LOGS, RespanClient
from respan_otel.client._csv import to_csv
from respan_otel.client._errors import ValidationError
from respan_otel.client._export import jsonl_line
from respan_otel.client._resource import _filters as check_filters
from respan_otel.client._resource import _page as check_page
from respan_otel.client._resource import _page_size as check_page_size

OpenClient = Callable[[argparse.Namespace], RespanClient]

DEFAULT_SORT: Final = "-timestamp"
# Fields the server sets: an exported log sent back must not carry them.
_SERVER_FIELDS: Final = frozenset(
    {"id", "unique_id", "dataset_id", "organization_id", "status", "total_request_tokens"}
)
_FILTERS_EPILOG: Final = (
    "filters example (AND of both; metadata keys as metadata__<key>):\n"
    '  --filters \'{"metadata__model": {"operator": "eq", "value": ["gpt-4o"]},\n'
    '              "cost": {"operator": "gte", "value": [0.01]}}\''
)


def join_negative_values(argv: Sequence[str], options: Sequence[str] = ("--sort-by",)) -> list[str]:
    """``--sort-by -timestamp`` as ``--sort-by=-timestamp``: argparse would otherwise take
    the value for an option and refuse the command line."""
    out: list[str] = []
    items = iter(argv)
    for item in items:
        if item in options:
            value = next(items, None)
            out.append(item if value is None else f"{item}={value}")
        else:
            out.append(item)
    return out


def resolve_dataset(client: RespanClient, ref: str) -> str:
    """The id of the dataset ``ref`` names: an id as is, else the dataset of that name."""
    if is_dataset_id(ref) or ref.startswith("_"):  # _saved_logs: Respan's virtual dataset
        return ref
    try:
        found = client.datasets.list(filters={"name": {"operator": "eq", "value": [ref]}})
        matches = [d for d in found if d.name == ref]
    except ValidationError:  # a server that cannot filter by name: look through them all
        matches = [d for d in client.datasets.list() if d.name == ref]
    if not matches:
        raise UsageError(f"no dataset named {ref!r}: see `respan-otel datasets list`")
    if len(matches) > 1:
        ids = ", ".join(d.id for d in matches)
        raise UsageError(f"{len(matches)} datasets are named {ref!r}; give one id: {ids}")
    return matches[0].id


def _progress_wanted(args: argparse.Namespace) -> bool:
    return bool(args.progress) if args.progress is not None else sys.stderr.isatty()


class Commands:
    """The reading commands, over clients from ``open_client``."""

    def __init__(self, open_client: OpenClient) -> None:
        self.open_client = open_client

    def datasets_delete(self, args: argparse.Namespace) -> int:
        with self.open_client(args) as client:
            dataset = client.datasets.get(resolve_dataset(client, args.dataset))
            count = "" if dataset.log_count is None else f" and its {dataset.log_count} logs"
            if not args.yes:
                if not sys.stdin.isatty():
                    raise UsageError("deleting needs --yes when not run at a terminal")
                answer = input(f"Delete dataset {dataset.name!r}{count}? [y/N] ")
                if answer.strip().lower() not in ("y", "yes"):
                    print("Nothing deleted.")
                    return EXIT_OK
            client.datasets.delete(dataset.id)
        print(f"Deleted dataset {dataset.name!r} ({dataset.id}){count}")
        return EXIT_OK

    def logs_list(self, args: argparse.Namespace) -> int:
        filters = filters_arg(args.filters)
        check_filters("filters", filters)  # the arguments first, then the name's lookup
        check_page(args.page)
        check_page_size(args.page_size)
        with self.open_client(args) as client:
            page = client.datasets.logs.list(
                resolve_dataset(client, args.dataset),
                filters=filters,
                page=args.page,
                page_size=args.page_size,
                sort_by=args.sort_by or DEFAULT_SORT,
            )
        if args.json:
            print_json(page.raw)
            return EXIT_OK
        headers = ["TIME", "ID", "NAME", "TYPE", "STATUS", "MODEL", "TOKENS", "COST", "LATENCY"]
        print_table(
            [*headers, "INPUT"],
            (_log_row(log.raw) for log in page.results),
            right=("TOKENS", "COST", "LATENCY"),
        )
        footer = f"page {args.page}: {len(page.results)} of {page.count} logs"
        if page.next:
            footer += f" (next: --page {args.page + 1})"
        print(footer)
        return EXIT_OK

    def logs_show(self, args: argparse.Namespace) -> int:
        with self.open_client(args) as client:
            dataset_id = resolve_dataset(client, args.dataset)
            log = client.datasets.logs.get(dataset_id, args.log_id)
            trace: list[Mapping[str, Any]] = []
            filters = tracetree.trace_filter_for(log.raw) if args.trace else None
            if filters is not None:
                logs = client.datasets.logs.iter(dataset_id, filters=filters, sort_by="start_time")
                for item in logs:
                    trace.append(item.raw)
                    if len(trace) >= tracetree.MAX_TRACE_LOGS:
                        break
        if args.json:
            print_json({**log.raw, "trace": trace} if args.trace else log.raw)
            return EXIT_OK
        shown = {
            "id": log.id,
            "dataset_id": log.dataset_id,
            "timestamp": log.timestamp,
            "status": log.status,
            "input": log.input,
            "output": log.output,
            "expected_output": log.expected_output,
            "metadata": log.metadata,
            "metrics": log.metrics,
        }
        width = max(len(key) for key in shown)
        for key, value in shown.items():
            if value is None or value == {}:
                continue
            print(f"{key.ljust(width)}  {block(value, width + 2)}")
        if trace:
            roots = tracetree.build_tree(trace)
            print(f"\ntrace {tracetree.trace_id_of(log.raw)} ({len(trace)} logs; * is this one)")
            for line in trace_lines(roots, current=log.id):
                print(line.rstrip())
        return EXIT_OK

    def logs_export(self, args: argparse.Namespace) -> int:
        filters = filters_arg(args.filters)
        with self.open_client(args) as client, _output(args.output) as out:
            dataset_id = resolve_dataset(client, args.dataset)
            export = client.datasets.logs._export_rows(
                dataset_id, filters=filters, sort_by=args.sort_by
            )
            progress = Progress("exporting", export.total, enabled=_progress_wanted(args))
            rows = _counted(export.rows, progress)
            if args.format == "csv":
                out.write(to_csv(list(rows)))  # every column must be known first
            else:
                for row in rows:
                    out.write(jsonl_line(row))
            progress.finish()
        if args.output not in (None, "-"):
            print(f"Exported {progress.done} logs to {args.output}", file=sys.stderr)
        return EXIT_OK

    def logs_import(self, args: argparse.Namespace) -> int:
        with self.open_client(args) as client, _input(args.file) as source:
            dataset_id = resolve_dataset(client, args.dataset)
            progress = Progress("importing", None, enabled=_progress_wanted(args))
            problems: list[str] = []
            imported = 0
            for chunk, lines in _chunks(source, problems):
                result = client.datasets.logs.bulk_create(dataset_id, chunk)
                imported += result.success_count
                problems.extend(f"line {lines[e.index]}: {e.error}" for e in result.errors)
                progress.advance(len(chunk))
            progress.finish()
        print(f"Imported {imported} logs into {args.dataset}")
        for problem in problems[:20]:
            print(f"  not imported: {problem}", file=sys.stderr)
        if len(problems) > 20:
            print(f"  ... and {len(problems) - 20} more", file=sys.stderr)
        return EXIT_API_ERROR if problems else EXIT_OK


def _log_row(log: Mapping[str, Any]) -> list[Any]:
    metadata = log.get("metadata")
    meta = metadata if isinstance(metadata, Mapping) else {}
    when = str(log.get("timestamp") or "").replace("T", " ")[:19]
    return [
        when,
        log.get("unique_id") or log.get("id"),
        meta.get("span_name") or "",
        log.get("log_type") or meta.get("log_type"),
        log.get("status"),
        log.get("model") or meta.get("model"),
        log.get("total_request_tokens"),
        money(log.get("cost")),
        seconds(log.get("latency")),
        log.get("input"),
    ]


def _counted(rows: Iterator[dict[str, Any]], progress: Progress) -> Iterator[dict[str, Any]]:
    for row in rows:
        yield row
        progress.advance()


@contextlib.contextmanager
def _output(path: str | None) -> Iterator[TextIO]:
    if path in (None, "-"):
        yield sys.stdout
        return
    with Path(path).open("w", encoding="utf-8", newline="") as out:
        yield out


@contextlib.contextmanager
def _input(path: str) -> Iterator[TextIO]:
    if path == "-":
        yield sys.stdin
        return
    with Path(path).open(encoding="utf-8") as source:
        yield source


def _chunks(
    source: TextIO, problems: list[str]
) -> Iterator[tuple[list[dict[str, Any]], list[int]]]:
    """Logs of a JSON Lines file in bulk-sized chunks, with their line numbers; lines that
    are not a JSON object are reported in ``problems`` and skipped."""
    chunk: list[dict[str, Any]] = []
    lines: list[int] = []
    for number, line in enumerate(source, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as exc:
            problems.append(f"line {number}: not JSON ({exc})")
            continue
        if not isinstance(item, dict):
            problems.append(f"line {number}: not a JSON object")
            continue
        chunk.append({k: v for k, v in item.items() if k not in _SERVER_FIELDS and v is not None})
        lines.append(number)
        if len(chunk) == BULK_MAX_LOGS:
            yield chunk, lines
            chunk, lines = [], []
    if chunk:
        yield chunk, lines


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    dataset_commands: argparse._SubParsersAction[argparse.ArgumentParser],
    leaf: list[argparse.ArgumentParser],
    open_client: OpenClient,
) -> None:
    """Add ``datasets delete`` and the ``logs`` commands to the CLI's parser."""
    run = Commands(open_client)
    delete = dataset_commands.add_parser(
        "delete",
        parents=leaf,
        help="delete a dataset and its logs",
        description="Delete a dataset and every log in it (asks first, unless --yes).",
    )
    delete.add_argument("dataset", metavar="DATASET", help="dataset id or name")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    delete.set_defaults(func=run.datasets_delete)

    logs = commands.add_parser("logs", help="list, show, export and import a dataset's logs")
    actions = logs.add_subparsers(dest="action", metavar="ACTION", required=True)

    def command(name: str, help: str, description: str) -> argparse.ArgumentParser:
        parser = actions.add_parser(
            name,
            parents=leaf,
            help=help,
            description=description,
            formatter_class=argparse.RawDescriptionHelpFormatter,
            epilog=_FILTERS_EPILOG if name in ("list", "export") else None,
        )
        parser.add_argument("dataset", metavar="DATASET", help="dataset id or name")
        return parser

    def reading(parser: argparse.ArgumentParser, default_sort: str | None) -> None:
        parser.add_argument("--filters", metavar="JSON", help="filters in the API's JSON form")
        parser.add_argument(
            "--sort-by",
            default=default_sort,
            metavar="FIELD",
            help="sort field, - first to reverse (e.g. --sort-by -timestamp)"
            + (f"; default {default_sort}" if default_sort else ""),
        )

    def progress(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--progress",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="progress bar on stderr (default: when stderr is a terminal)",
        )

    listing = command(
        "list", "list one page of a dataset's logs", "One page of a dataset's logs, newest first."
    )
    reading(listing, DEFAULT_SORT)
    listing.add_argument("--page", type=int, default=1, help="page number (default: 1)")
    listing.add_argument("--page-size", type=int, metavar="N", help="logs per page, at most 100")
    listing.set_defaults(func=run.logs_list)

    for name, trace in (("show", True), ("get", False)):
        show = command(
            name,
            "show one log" + (" and its trace as a tree" if trace else ""),
            "Show one log in full" + (", then its trace as a tree with timings." if trace else "."),
        )
        show.add_argument("log_id", metavar="LOG_ID")
        show.set_defaults(func=run.logs_show, trace=trace)

    export = command(
        "export",
        "write every log of a dataset as JSON Lines or CSV",
        "Write every matching log, streaming, to a file or stdout.",
    )
    reading(export, None)
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    export.add_argument("-o", "--output", metavar="FILE", help="file to write (default: stdout)")
    progress(export)
    export.set_defaults(func=run.logs_export)

    load = command(
        "import",
        "add the logs of a JSON Lines file to a dataset",
        "Add one log per line of a JSON Lines file (as `logs export` writes) to a dataset.",
    )
    load.add_argument("file", metavar="FILE", help="JSON Lines file, or - for stdin")
    progress(load)
    load.set_defaults(func=run.logs_import)
