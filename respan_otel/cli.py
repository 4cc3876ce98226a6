"""The ``respan-otel`` command: run the local server, look at datasets and their logs.

::

    respan-otel serve --port 8787
    export RESPAN_BASE_URL=http://127.0.0.1:8787 RESPAN_API_KEY=...
    respan-otel datasets create support-evals --description "July tickets"
    respan-otel datasets list
    respan-otel logs list DATASET_ID --page-size 50 \\
        --filters '{"metadata__model": {"operator": "eq", "value": ["gpt-4o"]}}'
    respan-otel logs get DATASET_ID LOG_ID --json

Output is a readable table by default and JSON with ``--json``. Errors are one line on
stderr and a non-zero exit status: 1 for an API or network failure, 2 for a usage error,
130 when interrupted. The API key is never printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from respan_otel._cli_read import add_commands as add_reading_commands
from respan_otel._cli_read import join_negative_values
from respan_otel._cli_text import EXIT_API_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from respan_otel._cli_text import UsageError as _UsageError
from respan_otel._cli_text import print_json as _print_json
from respan_otel._cli_text import print_table as _print_table
from respan_otel._settings import ENV_API_KEY, ENV_BASE_URL
from respan_otel._version import __version__
from respan_otel.client._errors import RespanError

if TYPE_CHECKING:
    from respan_otel.client._client import RespanClient

__all__ = ["main"]

PROG = "respan-otel"


def _client_options(*, suppress: bool) -> argparse.ArgumentParser:
    """Options accepted both before and after the subcommand.

    Leaf parsers use ``SUPPRESS`` defaults so an option given before the subcommand is
    not reset by the subcommand's own default.
    """
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("connection and output")
    none = argparse.SUPPRESS if suppress else None
    group.add_argument(
        "--api-key",
        default=none,
        metavar="KEY",
        help=f"Respan API key (default: ${ENV_API_KEY})",
    )
    group.add_argument(
        "--base-url",
        default=none,
        metavar="URL",
        help=f"API root, with or without /api (default: ${ENV_BASE_URL} or https://api.respan.ai)",
    )
    group.add_argument(
        "--allow-insecure-http",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="allow a plain http:// base URL to a host other than this machine",
    )
    group.add_argument(
        "--timeout",
        type=float,
        default=none,
        metavar="SECONDS",
        help="seconds to wait for a connection and for each reply (default: 30)",
    )
    group.add_argument(
        "--max-retries",
        type=int,
        default=none,
        metavar="N",
        help="retries of a failed read on 429/5xx/network errors (default: 2)",
    )
    group.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="print JSON instead of a table",
    )
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, exposed for documentation tools and tests."""
    leaf = [_client_options(suppress=True)]
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Respan datasets from the command line, and a local Respan-compatible "
        "server for offline development.",
        parents=[_client_options(suppress=False)],
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="run the local Respan-compatible server (SQLite)",
        description="Run the local Respan-compatible datasets server until interrupted. "
        "No model or evaluator runs locally: experiments keep the status and results a "
        "runner writes.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    serve.add_argument("--port", type=int, default=8787, help="port (default: %(default)s)")
    serve.add_argument(
        "--db", default="respan-local.db", help="SQLite file, or :memory: (default: %(default)s)"
    )
    serve.add_argument(
        "--api-key",
        default=None,
        metavar="KEY",
        help=f"key clients must send (default: ${ENV_API_KEY}, else a random one, printed)",
    )
    serve.add_argument(
        "--rate-limit-per-minute",
        type=int,
        default=None,
        metavar="N",
        help="answer 429 beyond N requests a minute, like Respan's limits (default: off)",
    )
    serve.add_argument(
        "--org-rate-limit-per-minute",
        type=int,
        default=None,
        metavar="N",
        help="one budget of N requests a minute shared by every caller and key, as Respan "
        "limits an organization (default: off)",
    )
    serve.set_defaults(func=_serve)
    _add_gateway(commands)

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

    doctor = commands.add_parser(
        "doctor",
        parents=leaf,
        help="check the configuration and reach the API",
        description="Check every RESPAN_* setting, the OpenTelemetry variables that "
        "commonly go wrong, and that the API accepts the key and knows the dataset. "
        "Exits 1 if anything would stop logs from being delivered.",
    )
    doctor.set_defaults(func=_doctor)

    add_reading_commands(commands, dataset_commands, leaf, _client)
    experiment_actions = _add_experiment_commands(commands, leaf)
    _add_api_commands(dataset_commands, experiment_actions, leaf)
    _add_spool_commands(commands, leaf)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status instead of exiting."""
    parser = build_parser()
    try:
        args = parser.parse_args(join_negative_values(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # --help, --version, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return func(args)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except RespanError as exc:
        return _fail(args, str(exc), EXIT_API_ERROR)
    except (_UsageError, ValueError, TypeError) as exc:
        return _fail(args, str(exc), EXIT_USAGE)
    except BrokenPipeError:
        return EXIT_OK
    except OSError as exc:  # e.g. serve: the port is taken, the database can't be opened
        return _fail(args, str(exc), EXIT_API_ERROR)
    except Exception as exc:  # the CLI's promise: one line, never a traceback
        return _fail(args, f"unexpected {type(exc).__name__}: {exc}", EXIT_API_ERROR)


def _fail(args: argparse.Namespace, message: str, code: int) -> int:
    key = getattr(args, "api_key", None) or os.environ.get(ENV_API_KEY)
    if key:
        message = message.replace(key, "***")
    print(f"{PROG}: error: {' '.join(message.split())}", file=sys.stderr)
    return code


def _serve(args: argparse.Namespace) -> int:
    from respan_otel.local import serve

    org = args.org_rate_limit_per_minute
    org_limit = {} if org is None else {"org_rate_limit_per_minute": org}
    serve(
        host=args.host,
        port=args.port,
        db=args.db,
        api_key=args.api_key,
        rate_limit_per_minute=args.rate_limit_per_minute,
        **org_limit,
    )
    return EXIT_OK


# -- respan-otel gateway ------------------------------------------------------------------


def _add_gateway(commands: Any) -> None:
    gateway = commands.add_parser(
        "gateway",
        help="receive OTLP/HTTP traces from a fleet and deliver them at one budget",
        description="Receive OTLP/HTTP traces (POST /v1/traces) from apps or an "
        "OpenTelemetry Collector, journal them durably, and deliver their rows to Respan "
        f"with the organization's budget. Needs ${ENV_API_KEY} (held only here) and client "
        "tokens of their own. Needs the gateway extra: pip install 'respan-otel[gateway]'. "
        "See docs/fleet.md.",
    )
    gateway.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    gateway.add_argument("--port", type=int, default=4318, help="port (default: %(default)s)")
    gateway.add_argument(
        "--dir",
        default=None,
        metavar="PATH",
        help="journal and spool directory (default: $RESPAN_GATEWAY_DIR, else "
        "$XDG_STATE_HOME/respan-otel/gateway)",
    )
    gateway.add_argument(
        "--tokens-file",
        default=None,
        metavar="PATH",
        help="client tokens, one per line (default: $RESPAN_GATEWAY_TOKENS, comma-separated)",
    )
    gateway.add_argument(
        "--journal-max-bytes",
        type=int,
        default=1024**3,
        metavar="N",
        help="beyond this the gateway answers 429 with Retry-After (default: %(default)s)",
    )
    gateway.add_argument(
        "--retry-after",
        type=int,
        default=5,
        metavar="SECONDS",
        help="Retry-After told to throttled clients (default: %(default)s)",
    )
    gateway.set_defaults(func=_gateway)


def _gateway(args: argparse.Namespace) -> int:
    try:
        from respan_otel.gateway._main import run
    except ImportError as exc:
        raise _UsageError(
            f"the gateway needs its extra ({exc.name} is missing): "
            "pip install 'respan-otel[gateway]'"
        ) from None
    run(
        host=args.host,
        port=args.port,
        directory=args.dir,
        tokens_file=args.tokens_file,
        journal_max_bytes=args.journal_max_bytes,
        retry_after=args.retry_after,
    )
    return EXIT_OK


# -- end of respan-otel gateway ----------------------------------------------------------


def _doctor(args: argparse.Namespace) -> int:
    """Report each check as ok, warn or fail; exit 1 if any failed."""
    from respan_otel._settings import (
        ENV_DATASET_ID,
        CaptureSettings,
        ExporterSettings,
        sdk_disabled,
    )

    checks: list[tuple[str, str, str]] = []
    try:
        capture = CaptureSettings.from_env()
        checks.append(
            (
                "ok",
                "capture settings",
                f"content {'on' if capture.capture_content else 'off'}, "
                f"{capture.max_field_bytes} bytes per field, "
                f"{len(capture.redact_keys)} redaction keys",
            )
        )
    except ValueError as exc:
        checks.append(("fail", "capture settings", str(exc)))
    settings: ExporterSettings | None = None
    try:
        settings = ExporterSettings.resolve(api_key=args.api_key, base_url=args.base_url)
        checks.append(
            (
                "ok",
                "exporter settings",
                f"{settings.base_url}, batches of {settings.batch_size}, "
                f"{settings.requests_per_minute} requests/min, "
                f"spool {settings.spool_dir or 'off'}",
            )
        )
    except (ValueError, TypeError) as exc:
        checks.append(("fail", "exporter settings", str(exc)))
    if sdk_disabled():
        checks.append(("warn", "OTEL_SDK_DISABLED", "true: nothing is traced or sent"))
    traces = os.environ.get("OTEL_TRACES_EXPORTER")
    unset = [n for n in ("OTEL_METRICS_EXPORTER", "OTEL_LOGS_EXPORTER") if n not in os.environ]
    if traces and unset:
        checks.append(
            (
                "warn",
                "OTEL_TRACES_EXPORTER",
                f"is set but {' and '.join(unset)} not: under opentelemetry-instrument an "
                "exporter that is not installed stops all tracing; set them to none",
            )
        )
    if settings is not None and settings.api_key is None:
        checks.append(("fail", "API key", f"not set: pass --api-key or set {ENV_API_KEY}"))
    elif settings is not None:
        checks.extend(_reach(args, settings.dataset_id))
    if settings is not None and settings.dataset_id is None:
        checks.append(
            (
                "warn",
                ENV_DATASET_ID,
                "not set: only spans that name a dataset (@trace(dataset=...)) are sent",
            )
        )
    key = args.api_key or os.environ.get(ENV_API_KEY)
    checks = [(st, name, d.replace(key, "***") if key else d) for st, name, d in checks]
    if args.json:
        _print_json([{"status": st, "check": name, "detail": d} for st, name, d in checks])
    else:
        for status, name, detail in checks:
            print(f"{status:<5} {name}: {detail}")
    return EXIT_API_ERROR if any(status == "fail" for status, _, _ in checks) else EXIT_OK


def _reach(args: argparse.Namespace, dataset_id: str | None) -> list[tuple[str, str, str]]:
    """Reach the API with the key; look up the default dataset when one is set."""
    checks: list[tuple[str, str, str]] = []
    try:
        with _client(args) as client:
            next(iter(client.datasets.list(page_size=1)), None)
            checks.append(("ok", "API", f"{client.base_url} accepts the key"))
            if dataset_id is not None:
                found = client.datasets.get(dataset_id)
                checks.append(("ok", "dataset", f"{dataset_id} is {found.name!r}"))
    except RespanError as exc:
        checks.append(("fail", "API", str(exc)))
    return checks


def _client(args: argparse.Namespace) -> RespanClient:
    from respan_otel.client._client import RespanClient

    key = args.api_key or os.environ.get(ENV_API_KEY)
    if not key or not key.strip():
        raise _UsageError(f"no API key: pass --api-key or set {ENV_API_KEY}")
    options: dict[str, Any] = {}
    if args.timeout is not None:
        options["timeout"] = args.timeout
    if args.max_retries is not None:
        options["max_retries"] = args.max_retries
    return RespanClient(
        api_key=key,
        base_url=args.base_url,
        allow_insecure_http=args.allow_insecure_http,
        **options,
    )


def _datasets_create(args: argparse.Namespace) -> int:
    with _client(args) as client:
        dataset = client.datasets.create(name=args.name, description=args.description)
    if args.json:
        _print_json(dataset.raw)
    else:
        print(f"Created dataset {dataset.name!r} with id {dataset.id}")
    return EXIT_OK


def _datasets_list(args: argparse.Namespace) -> int:
    with _client(args) as client:
        datasets = list(client.datasets.list())
    if args.json:
        _print_json([dataset.raw for dataset in datasets])
        return EXIT_OK
    _print_table(
        ["ID", "NAME", "STATUS", "LOGS", "CREATED"],
        (
            [d.id, d.name, d.status, "" if d.log_count is None else d.log_count, d.created_at]
            for d in datasets
        ),
    )
    print(f"{len(datasets)} dataset{'s' if len(datasets) != 1 else ''}")
    return EXIT_OK


# --- experiment run / compare (respan_otel.experiments) ---------------------------------


def _add_experiment_commands(commands: Any, leaf: list[argparse.ArgumentParser]) -> Any:
    """``experiment run|compare``; returns the group so the API block adds its actions."""
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
    return actions


def _experiment_run(args: argparse.Namespace) -> int:
    from respan_otel.experiments._cli import parse_thresholds, run_command

    key = args.api_key or os.environ.get(ENV_API_KEY)
    client = _client(args) if key and key.strip() else None
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

    return compare_command(args.baseline, args.candidate, lambda: _client(args), as_json=args.json)


# --- API operations: datasets import-spans/remove-logs/summary, experiments CRUD and logs -


def _add_api_commands(
    dataset_commands: Any, actions: Any, leaf: list[argparse.ArgumentParser]
) -> None:
    """``datasets import-spans|remove-logs|summary`` and ``experiment list|get|...``."""
    filters_help = "filters in the API's JSON form (see logs list --help)"
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
    imported.add_argument("--filters", default=None, metavar="JSON", help=filters_help)
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
    removed.add_argument("--filters", default=None, metavar="JSON", help=filters_help)
    removed.add_argument("--all", action="store_true", help="remove every log of the dataset")
    removed.set_defaults(func=_datasets_remove_logs)
    summary = dataset_commands.add_parser(
        "summary",
        parents=leaf,
        help="totals and averages of a dataset's logs",
        description="Count, cost, tokens and latency of a dataset's (matching) logs.",
    )
    summary.add_argument("dataset_id", metavar="DATASET_ID")
    summary.add_argument("--filters", default=None, metavar="JSON", help=filters_help)
    summary.set_defaults(func=_datasets_summary)

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
    rows.add_argument("--filters", default=None, metavar="JSON", help=filters_help)
    rows.add_argument("--page", type=int, default=1, help="page number (default: 1)")
    rows.add_argument("--page-size", type=int, default=None, metavar="N", help="at most 100")
    rows.set_defaults(func=_experiments_logs)
    scores = actions.add_parser(
        "summary", parents=leaf, help="totals and per-evaluator scores of an experiment"
    )
    scores.add_argument("experiment_id", metavar="EXPERIMENT_ID")
    scores.add_argument("--filters", default=None, metavar="JSON", help=filters_help)
    scores.set_defaults(func=_experiments_summary)


def _json_arg(text: str | None, option: str, kind: type) -> Any:
    """A JSON command-line value of the expected kind (``None`` when not given)."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise _UsageError(f"{option} is not valid JSON: {exc}") from None
    if not isinstance(value, kind):
        raise _UsageError(f"{option} must be a JSON {'object' if kind is dict else 'array'}")
    return value


def _print_message(args: argparse.Namespace, message: str) -> int:
    if args.json:
        _print_json({"message": message})
    else:
        print(message)
    return EXIT_OK


def _datasets_import_spans(args: argparse.Namespace) -> int:
    with _client(args) as client:
        message = client.datasets.logs.import_logs(
            args.dataset_id,
            start_time=args.start,
            end_time=args.end,
            filters=_json_arg(args.filters, "--filters", dict),
            sampling_percentage=args.sampling,
        )
    return _print_message(args, message)


def _datasets_remove_logs(args: argparse.Namespace) -> int:
    filters = _json_arg(args.filters, "--filters", dict)
    if not filters and not args.all:
        raise _UsageError("give --filters to choose logs, or --all to remove every log")
    with _client(args) as client:
        message = client.datasets.logs.remove(args.dataset_id, filters=filters, all_logs=args.all)
    return _print_message(args, message)


def _print_summary(args: argparse.Namespace, summary: Any) -> int:
    if args.json:
        _print_json(summary.raw)
        return EXIT_OK
    print(f"logs         {summary.number_of_requests}")
    print(f"cost         {summary.total_cost:g}")
    print(f"tokens       {summary.total_tokens}")
    if summary.avg_latency is not None:
        print(f"avg latency  {summary.avg_latency:g} s")
    for evaluator, score in sorted(summary.scores.items()):
        average = score.get("avg_score")
        counts = f"{score.get('true_count', 0)} true / {score.get('false_count', 0)} false"
        shown = counts if score.get("score_value_type") == "boolean" else f"mean {average}"
        print(f"score {evaluator}: {shown}")
    return EXIT_OK


def _datasets_summary(args: argparse.Namespace) -> int:
    with _client(args) as client:
        summary = client.datasets.logs.summary(
            args.dataset_id, filters=_json_arg(args.filters, "--filters", dict)
        )
    return _print_summary(args, summary)


def _print_experiments(args: argparse.Namespace, experiments: list[Any]) -> int:
    if args.json:
        _print_json([e.raw for e in experiments])
        return EXIT_OK
    _print_table(
        ["ID", "NAME", "STATUS", "PROGRESS", "DATASET", "CREATED"],
        ([e.id, e.name, e.status, e.progress, e.dataset_id, e.created_at] for e in experiments),
    )
    return EXIT_OK


def _experiments_list(args: argparse.Namespace) -> int:
    with _client(args) as client:
        experiments = list(client.experiments.list())
    _print_experiments(args, experiments)
    if not args.json:
        print(f"{len(experiments)} experiment{'s' if len(experiments) != 1 else ''}")
    return EXIT_OK


def _experiments_get(args: argparse.Namespace) -> int:
    with _client(args) as client:
        experiment = client.experiments.get(args.experiment_id)
    return _print_experiments(args, [experiment])


def _experiments_create(args: argparse.Namespace) -> int:
    workflow = _json_arg(args.workflow, "--workflow", list)
    with _client(args) as client:
        experiment = client.experiments.create(
            dataset_id=args.dataset,
            workflow=workflow,
            evaluator_ids=args.evaluator,
            evaluator_workflow_ids=args.evaluator_workflow,
            name=args.name,
            description=args.description,
        )
    if args.json:
        _print_json(experiment.raw)
    else:
        print(f"Created experiment {experiment.name!r} with id {experiment.id}")
    return EXIT_OK


def _experiments_update(args: argparse.Namespace) -> int:
    with _client(args) as client:
        experiment = client.experiments.update(
            args.experiment_id,
            name=args.name,
            description=args.description,
            status=args.status,
            progress=args.progress,
        )
    return _print_experiments(args, [experiment])


def _experiments_delete(args: argparse.Namespace) -> int:
    with _client(args) as client:
        client.experiments.delete(args.experiment_id)
    return _print_message(args, f"Deleted experiment {args.experiment_id}")


def _experiments_logs(args: argparse.Namespace) -> int:
    with _client(args) as client:
        page = client.experiments.logs.list(
            args.experiment_id,
            filters=_json_arg(args.filters, "--filters", dict),
            page=args.page,
            page_size=args.page_size,
        )
    if args.json:
        _print_json(page.raw)
        return EXIT_OK
    _print_table(
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
    with _client(args) as client:
        summary = client.experiments.logs.summary(
            args.experiment_id, filters=_json_arg(args.filters, "--filters", dict)
        )
    return _print_summary(args, summary)


# --- spool: look at and drain the disk spool of undelivered logs ---------------------------


def _add_spool_commands(commands: Any, leaf: list[argparse.ArgumentParser]) -> None:
    spool = commands.add_parser("spool", help="show and send the logs waiting in the spool")
    actions = spool.add_subparsers(dest="action", metavar="ACTION", required=True)
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument(
        "--dir", default=None, help="spool directory (default: $RESPAN_SPOOL_DIR or the cache)"
    )
    status = actions.add_parser(
        "status",
        parents=[*leaf, where],
        help="count the logs waiting, per dataset, and those set aside",
        description="Count the logs waiting in the spool, per dataset, and the dead-lettered.",
    )
    status.set_defaults(func=_spool_status)
    flush = actions.add_parser(
        "flush",
        parents=[*leaf, where],
        help="send the waiting logs now",
        description="Send the logs waiting in the spool now (exit 1 if some are left).",
    )
    flush.add_argument(
        "--requeue-dead",
        action="store_true",
        help="first move dead-lettered logs back (after fixing what refused them)",
    )
    flush.add_argument(
        "--seconds", type=float, default=60.0, help="how long to keep sending (default: 60)"
    )
    flush.set_defaults(func=_spool_flush)


def _spool_at(args: argparse.Namespace) -> Any:
    from respan_otel._export._spool import Spool
    from respan_otel._settings import ExporterSettings

    settings = ExporterSettings.resolve(spool_dir=args.dir)
    if settings.spool_dir is None:
        raise _UsageError("the spool is off (RESPAN_SPOOL_DIR=off); pass --dir")
    return Spool(settings.spool_dir, max_bytes=settings.spool_max_bytes)


def _spool_status(args: argparse.Namespace) -> int:
    status = _spool_at(args).status()
    if args.json:
        _print_json(status)
        return EXIT_OK
    rows = [[name, c["files"], c["logs"]] for name, c in sorted(status["datasets"].items())]
    rows.append(["(dead-lettered)", status["dead"]["files"], status["dead"]["logs"]])
    print(f"spool {status['directory']} ({status['bytes']} bytes)")
    _print_table(["DATASET", "FILES", "LOGS"], rows)
    return EXIT_OK


def _spool_flush(args: argparse.Namespace) -> int:
    import time

    from respan_otel._export._exporter import RespanDatasetExporter

    spool = _spool_at(args)
    if args.requeue_dead:
        print(f"{spool.requeue_dead()} dead-lettered batches moved back")
    exporter = RespanDatasetExporter(
        api_key=getattr(args, "api_key", None),
        base_url=getattr(args, "base_url", None),
        spool_dir=spool.directory,
        allow_insecure_http=bool(getattr(args, "allow_insecure_http", False)),
    )
    if not exporter.sending:
        raise _UsageError(f"no API key: pass --api-key or set {ENV_API_KEY}")
    spool.wake()  # batches waiting after a failed try go now
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline and not exporter.force_flush(5_000):
        time.sleep(0.2)
    exporter.shutdown(timeout_millis=0)
    counts = exporter.stats.snapshot()
    left = spool.status()
    waiting = sum(c["logs"] for c in left["datasets"].values())
    summary = {"sent": counts["exported"], "refused": counts["failed"], "waiting": waiting}
    if args.json:
        _print_json(summary)
    else:
        print(f"sent {summary['sent']}, refused {summary['refused']}, still waiting {waiting}")
    return EXIT_OK if waiting == 0 else EXIT_API_ERROR


if __name__ == "__main__":
    sys.exit(main())
