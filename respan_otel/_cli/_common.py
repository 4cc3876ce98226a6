"""What every ``respan-otel`` command shares: connection options, the client, JSON values."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, Any

from respan_otel._cli._text import EXIT_OK, UsageError, print_json
from respan_otel._settings import ENV_API_KEY, ENV_BASE_URL

if TYPE_CHECKING:
    from respan_otel.client._client import RespanClient

PROG = "respan-otel"


def client_options(*, suppress: bool) -> argparse.ArgumentParser:
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


def open_client(args: argparse.Namespace) -> RespanClient:
    from respan_otel.client._client import RespanClient

    key = args.api_key or os.environ.get(ENV_API_KEY)
    if not key or not key.strip():
        raise UsageError(f"no API key: pass --api-key or set {ENV_API_KEY}")
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


def json_arg(text: str | None, option: str, kind: type, *, example: str = "") -> Any:
    """A JSON command-line value of the expected kind (``None`` when not given); ``example``
    follows the message when the value is of another kind."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{option} is not valid JSON: {exc}") from None
    if not isinstance(value, kind):
        shape = "object" if kind is dict else "array"
        raise UsageError(f"{option} must be a JSON {shape}{': ' + example if example else ''}")
    return value


FILTERS_HELP = "filters in the API's JSON form (see logs list --help)"


def filters_arg(text: str | None) -> dict[str, Any] | None:
    """``--filters``: the API's filters object, or ``None`` when not given."""
    filters: dict[str, Any] | None = json_arg(
        text, "--filters", dict, example='{"field": {"operator", "value"}}'
    )
    return filters


def print_message(args: argparse.Namespace, message: str) -> int:
    if args.json:
        print_json({"message": message})
    else:
        print(message)
    return EXIT_OK


def print_summary(args: argparse.Namespace, summary: Any) -> int:
    if args.json:
        print_json(summary.raw)
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


def fail(args: argparse.Namespace, message: str, code: int) -> int:
    key = getattr(args, "api_key", None) or os.environ.get(ENV_API_KEY)
    if key:
        message = message.replace(key, "***")
    print(f"{PROG}: error: {' '.join(message.split())}", file=sys.stderr)
    return code
