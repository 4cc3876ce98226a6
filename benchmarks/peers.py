"""Peer SDKs: their venvs (made here, under ``benchmarks/.venvs/``) and their decorators.

The orchestrator side (:func:`prepare`, :func:`measure`) runs in the project's venv. The
worker side (``python peers.py '{"peer": ...}'``, run by a peer venv's interpreter) sets the
peer up offline, with input and output capture on and a discarding exporter, and times
its decorator against the raw OpenTelemetry baseline in the same process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
VENVS = HERE / ".venvs"
UNROUTABLE = "http://127.0.0.1:9"
"""Where a peer that insists on an endpoint is pointed: nothing listens there."""


@dataclass(frozen=True)
class Peer:
    label: str
    requirements: tuple[str, ...]
    distributions: tuple[str, ...]
    """Whose versions the report shows."""
    env: dict[str, str] = field(default_factory=dict)
    notes: str = ""


PEERS: dict[str, Peer] = {
    "traceloop": Peer(
        "traceloop-sdk `@workflow` / `@task`",
        (
            "traceloop-sdk==0.62.4",
            "httpx",  # imported by traceloop-sdk 0.62.4 but not declared
            # pip's resolver gives up unless the OTel instrumentations are pinned to one
            # release that the index has for all of them
            "opentelemetry-sdk==1.45.1",
            "opentelemetry-semantic-conventions==0.66b1",
            "opentelemetry-instrumentation==0.66b1",
            *(
                f"opentelemetry-instrumentation-{name}==0.66b1"
                for name in ("logging", "redis", "requests", "sqlalchemy", "threading", "urllib3")
            ),
        ),
        ("traceloop-sdk",),
        {"TRACELOOP_TELEMETRY": "false", "TRACELOOP_TRACE_CONTENT": "true"},
        "`Traceloop.init(exporter=discarding, disable_batch=False)`; httpx and pinned OTel "
        "instrumentations added so that pip can install it",
    ),
    "langfuse": Peer(
        "langfuse `@observe`",
        ("langfuse==5.0.4",),
        ("langfuse",),
        {},
        "`Langfuse(span_exporter=discarding, base_url=unroutable)`",
    ),
    "logfire": Peer(
        "logfire `@instrument(record_return=True)`",
        ("logfire==5.2.0",),
        ("logfire",),
        {"LOGFIRE_SEND_TO_LOGFIRE": "false"},
        "`configure(send_to_logfire=False, console=False, metrics=False, "
        "additional_span_processors=[BatchSpanProcessor(discarding)])`",
    ),
    "mlflow": Peer(
        "mlflow-tracing `@mlflow.trace`",
        ("mlflow-tracing==3.17.2",),
        ("mlflow-tracing",),
        {
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": UNROUTABLE,
            "MLFLOW_TRACKING_URI": UNROUTABLE,
        },
        "OTLP path (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` set, `get_otlp_exporter` patched "
        "to return the discarding exporter); `MLFLOW_TRACKING_URI` set",
    ),
    "phoenix": Peer(
        "arize-phoenix-otel + OpenInference `@tracer.chain`",
        ("arize-phoenix-otel==0.17.2", "openinference-instrumentation==0.1.72"),
        ("arize-phoenix-otel", "openinference-instrumentation"),
        {},
        "`phoenix.otel.TracerProvider(endpoint=unroutable)`, its OTLP processor replaced by "
        "`BatchSpanProcessor(discarding)`",
    ),
    "respan-tracing": Peer(
        "respan-tracing `@workflow` / `@task`",
        ("respan-tracing==2.24.0",),
        ("respan-tracing",),
        {},
        "`RespanTelemetry(api_key=None)` + `add_processor(discarding)`; default "
        '`auto_flush="root"`',
    ),
}


# -- orchestrator side ----------------------------------------------------------------------


def venv_python(name: str) -> Path:
    return VENVS / name / "bin" / "python"


def _stamp(peer: Peer) -> str:
    return json.dumps({"python": sys.version.split()[0], "requirements": peer.requirements})


def prepare_one(name: str) -> dict[str, Any]:
    """Create (or reuse) the peer's venv. Returns ``{"ok", "seconds", "reused", "error"}``."""
    peer = PEERS[name]
    root = VENVS / name
    stamp_file = root / ".benchmark-stamp"
    started = time.monotonic()
    if stamp_file.exists() and stamp_file.read_text() == _stamp(peer):
        return {"ok": True, "reused": True, "seconds": 0.0}
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(root)],
        [str(root / "bin" / "pip"), "install", "--quiet", *peer.requirements],
    ]
    base = _base_python()
    if base:
        steps[0][0] = base
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=900, check=False)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            return {"ok": False, "error": f"`{' '.join(step[:4])}` failed: {' / '.join(tail)}"}
    stamp_file.write_text(_stamp(peer))
    return {"ok": True, "reused": False, "seconds": time.monotonic() - started}


def _base_python() -> str | None:
    """The interpreter the project's venv was made from, so peers use the same Python."""
    base = getattr(sys, "_base_executable", None)
    return base if base and Path(base).exists() else None


def prepare(names: list[str]) -> dict[str, dict[str, Any]]:
    """Create the missing venvs, two at a time (pip waits on the network and disk)."""
    VENVS.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(names, pool.map(prepare_one, names), strict=True))


def versions(name: str) -> dict[str, str]:
    wanted = [*PEERS[name].distributions, "opentelemetry-sdk"]
    code = (
        "import json, sys\nfrom importlib.metadata import version\n"
        "print(json.dumps({d: version(d) for d in sys.argv[1:]}))"
    )
    done = subprocess.run(
        [str(venv_python(name)), "-c", code, *wanted],
        capture_output=True,
        text=True,
        check=False,
    )
    return json.loads(done.stdout) if done.returncode == 0 else {}


# -- worker side: one setup per peer, returning (outer, inner, flush) ------------------------

Setup = Callable[[Any], tuple[Any, Any, Callable[[], Any]]]


def _global_flush() -> Any:
    from opentelemetry import trace

    return trace.get_tracer_provider().force_flush()  # type: ignore[attr-defined]


def _setup_traceloop(exporter: Any) -> tuple[Any, Any, Callable[[], Any]]:
    from traceloop.sdk import Traceloop
    from traceloop.sdk.decorators import task, workflow

    Traceloop.init(
        app_name="bench",
        exporter=exporter,
        disable_batch=False,
        telemetry_enabled=False,
        should_enrich_metrics=False,
    )
    return (
        lambda f: workflow(name=f.__name__)(f),
        lambda f: task(name=f.__name__)(f),
        _global_flush,
    )


def _setup_langfuse(exporter: Any) -> tuple[Any, Any, Callable[[], Any]]:
    from langfuse import Langfuse, observe

    client = Langfuse(
        public_key="pk-bench", secret_key="sk-bench", base_url=UNROUTABLE, span_exporter=exporter
    )
    return observe, observe, client.flush


def _setup_logfire(exporter: Any) -> tuple[Any, Any, Callable[[], Any]]:
    import logfire
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    logfire.configure(
        send_to_logfire=False,
        console=False,
        metrics=False,
        additional_span_processors=[BatchSpanProcessor(exporter)],
    )
    decorate = logfire.instrument(record_return=True)
    return decorate, decorate, logfire.force_flush


def _setup_mlflow(exporter: Any) -> tuple[Any, Any, Callable[[], Any]]:
    import mlflow
    import mlflow.tracing.provider as provider

    provider.get_otlp_exporter = lambda: exporter  # type: ignore[attr-defined]
    return mlflow.trace, mlflow.trace, lambda: provider.provider.get().force_flush()


def _setup_phoenix(exporter: Any) -> tuple[Any, Any, Callable[[], Any]]:
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from phoenix.otel import TracerProvider

    tracer_provider = TracerProvider(endpoint=UNROUTABLE, verbose=False)
    active = tracer_provider._active_span_processor
    for processor in active._span_processors:
        processor.shutdown()  # its OTLP exporter never sends anything
    active._span_processors = ()
    tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = tracer_provider.get_tracer("bench")
    return tracer.chain, tracer.chain, tracer_provider.force_flush


def _setup_respan_tracing(exporter: Any) -> tuple[Any, Any, Callable[[], Any]]:
    from respan_tracing import RespanTelemetry
    from respan_tracing.decorators import task, workflow

    telemetry = RespanTelemetry(api_key=None)
    telemetry.add_processor(exporter=exporter)
    return (
        lambda f: workflow(name=f.__name__)(f),
        lambda f: task(name=f.__name__)(f),
        telemetry.flush,
    )


SETUPS: dict[str, Setup] = {
    "traceloop": _setup_traceloop,
    "langfuse": _setup_langfuse,
    "logfire": _setup_logfire,
    "mlflow": _setup_mlflow,
    "phoenix": _setup_phoenix,
    "respan-tracing": _setup_respan_tracing,
}

SHAPES = ("sync", "async", "nested")


def _worker() -> None:
    import logging

    import common

    logging.disable(logging.WARNING)
    args = common.worker_args()
    raw_provider, raw_exporter = common.discarding_provider()
    raw = common.raw_decorator(raw_provider.get_tracer("raw"))
    exporter = common.DiscardingExporter()
    started = time.perf_counter()
    outer, inner, flush = SETUPS[args["peer"]](exporter)
    setup_seconds = time.perf_counter() - started
    variants = {
        "raw": common.make_workloads(raw, shapes=SHAPES),
        "peer": common.make_workloads(outer, inner, shapes=SHAPES),
    }
    samples = common.interleaved(
        variants, rounds=args["rounds"], target_seconds=args["target_seconds"], shapes=SHAPES
    )
    flush()
    raw_provider.force_flush()
    common.emit(
        {
            "samples": samples,
            "setup_seconds": setup_seconds,
            "spans": {"peer": exporter.count, "raw": raw_exporter.count},
            "expected_spans": common.expected_spans(variants["peer"]),
            "attributes": sorted(exporter.keys),
        }
    )


def measure(name: str, *, rounds: int, target_seconds: float) -> dict[str, Any]:
    """Run the worker in the peer's venv; ``{"error": ...}`` if it fails."""
    env = {**os.environ, **PEERS[name].env, "PYTHONPATH": str(HERE)}
    argument = json.dumps({"peer": name, "rounds": rounds, "target_seconds": target_seconds})
    done = subprocess.run(
        [str(venv_python(name)), str(HERE / "peers.py"), argument],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        return {"error": f"the worker failed: {tail[0][:300]}"}
    return json.loads(lines[-1])


if __name__ == "__main__":
    _worker()
