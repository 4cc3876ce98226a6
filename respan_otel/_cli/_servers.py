"""``respan-otel serve``, ``gateway`` and ``doctor``: the commands that run or check things."""

from __future__ import annotations

import argparse
import os
from typing import Any

from respan_otel._cli._common import open_client
from respan_otel._cli._text import EXIT_API_ERROR, EXIT_OK, UsageError, print_json
from respan_otel._settings import ENV_API_KEY
from respan_otel.client._errors import RespanError


def add_commands(commands: Any, leaf: list[argparse.ArgumentParser]) -> None:
    """Add ``serve``, ``gateway`` and ``doctor`` to the top-level subcommands."""
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
    doctor = commands.add_parser(
        "doctor",
        parents=leaf,
        help="check the configuration and reach the API",
        description="Check every RESPAN_* setting, the OpenTelemetry variables that "
        "commonly go wrong, and that the API accepts the key and knows the dataset. "
        "Exits 1 if anything would stop logs from being delivered.",
    )
    doctor.set_defaults(func=_doctor)


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
        raise UsageError(
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
        print_json([{"status": st, "check": name, "detail": d} for st, name, d in checks])
    else:
        for status, name, detail in checks:
            print(f"{status:<5} {name}: {detail}")
    return EXIT_API_ERROR if any(status == "fail" for status, _, _ in checks) else EXIT_OK


def _reach(args: argparse.Namespace, dataset_id: str | None) -> list[tuple[str, str, str]]:
    """Reach the API with the key; look up the default dataset when one is set."""
    checks: list[tuple[str, str, str]] = []
    try:
        with open_client(args) as client:
            next(iter(client.datasets.list(page_size=1)), None)
            checks.append(("ok", "API", f"{client.base_url} accepts the key"))
            if dataset_id is not None:
                found = client.datasets.get(dataset_id)
                checks.append(("ok", "dataset", f"{dataset_id} is {found.name!r}"))
    except RespanError as exc:
        checks.append(("fail", "API", str(exc)))
    return checks
