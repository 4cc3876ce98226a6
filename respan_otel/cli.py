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
import sys
from collections.abc import Callable, Sequence

from respan_otel._cli import _datasets, _experiments, _servers, _spool
from respan_otel._cli._common import PROG, client_options, fail, open_client
from respan_otel._cli._read import add_commands as add_reading_commands
from respan_otel._cli._read import join_negative_values
from respan_otel._cli._text import EXIT_API_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, UsageError
from respan_otel._version import __version__
from respan_otel.client._errors import RespanError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, exposed for documentation tools and tests."""
    leaf = [client_options(suppress=True)]
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Respan datasets from the command line, and a local Respan-compatible "
        "server for offline development.",
        parents=[client_options(suppress=False)],
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _servers.add_commands(commands, leaf)
    dataset_commands = _datasets.add_commands(commands, leaf)
    add_reading_commands(commands, dataset_commands, leaf, open_client)
    _experiments.add_commands(commands, leaf)
    _spool.add_commands(commands, leaf)
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
        return fail(args, str(exc), EXIT_API_ERROR)
    except (UsageError, ValueError, TypeError) as exc:
        return fail(args, str(exc), EXIT_USAGE)
    except BrokenPipeError:
        return EXIT_OK
    except OSError as exc:  # e.g. serve: the port is taken, the database can't be opened
        return fail(args, str(exc), EXIT_API_ERROR)
    except Exception as exc:  # the CLI's promise: one line, never a traceback
        return fail(args, f"unexpected {type(exc).__name__}: {exc}", EXIT_API_ERROR)


if __name__ == "__main__":
    sys.exit(main())
