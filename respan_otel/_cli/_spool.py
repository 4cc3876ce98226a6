"""``respan-otel spool``: look at and drain the disk spool of undelivered logs."""

from __future__ import annotations

import argparse
from typing import Any

from respan_otel._cli._text import EXIT_API_ERROR, EXIT_OK, UsageError, print_json, print_table
from respan_otel._settings import ENV_API_KEY


def add_commands(commands: Any, leaf: list[argparse.ArgumentParser]) -> None:
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

    # the default spool has one folder per destination: the key and URL choose it
    settings = ExporterSettings.resolve(
        api_key=getattr(args, "api_key", None),
        base_url=getattr(args, "base_url", None),
        spool_dir=args.dir,
    )
    if settings.spool_dir is None:
        raise UsageError("the spool is off (RESPAN_SPOOL_DIR=off); pass --dir")
    return Spool(settings.spool_dir, max_bytes=settings.spool_max_bytes)


def _spool_status(args: argparse.Namespace) -> int:
    status = _spool_at(args).status()
    if args.json:
        print_json(status)
        return EXIT_OK
    rows = [[name, c["files"], c["logs"]] for name, c in sorted(status["datasets"].items())]
    rows.append(["(dead-lettered)", status["dead"]["files"], status["dead"]["logs"]])
    print(f"spool {status['directory']} ({status['bytes']} bytes)")
    print_table(["DATASET", "FILES", "LOGS"], rows)
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
        raise UsageError(f"no API key: pass --api-key or set {ENV_API_KEY}")
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
        print_json(summary)
    else:
        print(f"sent {summary['sent']}, refused {summary['refused']}, still waiting {waiting}")
    return EXIT_OK if waiting == 0 else EXIT_API_ERROR
