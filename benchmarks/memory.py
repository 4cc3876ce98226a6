"""Worker: resident memory while spans are produced, through ``configure()``.

- ``outage``: the backend is down (nothing listens on its port) while ``spans`` spans are
  produced in a tight loop. Without a spool, memory is bounded by the batch queue
  (20,000 spans); with ``spool``, undeliverable logs go to disk. Then the backend comes
  back on the same port and a flush replays the spool; the server's log count tells
  what arrived.
- ``tracing``: ``calls`` rounds of ``span()``, ``propagate()`` and a ``@trace`` call in one
  thread, over an SDK provider that discards spans (no exporter): after each tenth,
  allocated memory blocks and the current context's size. Flat blocks mean the tracing
  core itself keeps nothing per call (the leak of issue 12: a context entry per block).
- ``steady``: ``calls`` decorated calls with a backend that answers at once. After each
  tenth the pipeline is flushed and garbage collected, then RSS and the interpreter's
  count of allocated memory blocks are read: blocks that keep growing are a leak, while
  RSS also keeps the high-water mark of the batch queue.

Pacing is off in both (``requests_per_minute=0``): this measures memory, not the rate
limit, and a replay at 250 logs/s would take minutes.
"""

from __future__ import annotations

import contextvars
import gc
import logging
import os
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import common
import servers
from exporting import typical_call
from opentelemetry import trace as otel_trace

import respan_otel

WARMUP = 1_000


def _queue_length(handle: respan_otel.Respan) -> int:
    assert handle.processor is not None
    assert handle.exporter is not None
    return handle.processor.queued + handle.exporter.held()


def _settle(handle: respan_otel.Respan, quiet_seconds: float, limit_seconds: float) -> float:
    """Wait until the queue is empty and the counters stop moving; seconds waited."""
    started = time.monotonic()
    last, still_since = handle.stats, time.monotonic()
    while time.monotonic() - started < limit_seconds:
        time.sleep(0.1)
        now = handle.stats
        if now != last or _queue_length(handle):
            last, still_since = now, time.monotonic()
        elif time.monotonic() - still_since >= quiet_seconds:
            break
    return time.monotonic() - started


def _produce(handle: respan_otel.Respan, count: int, samples: int) -> list[dict[str, float]]:
    """Call the traced function ``count`` times; RSS and queue length ``samples`` times."""
    rss = []
    step = max(1, count // samples)
    for i in range(count):
        typical_call(i)
        if (i + 1) % step == 0:
            rss.append({"calls": i + 1, "rss_mb": common.rss_mb(), "queue": _queue_length(handle)})
    return rss


def outage(args: dict[str, Any]) -> dict[str, Any]:
    db = tempfile.mkdtemp(prefix="respan-bench-db-")
    spool_dir = tempfile.mkdtemp(prefix="respan-bench-spool-") if args["spool"] else "off"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    backend = servers.start("local", port=port, db=str(Path(db) / "bench.db"))
    base_url, api_key, dataset_id = backend.base_url, backend.api_key, backend.dataset_id
    backend.stop()  # the backend is down from here on
    handle = respan_otel.configure(
        api_key=api_key,
        base_url=base_url,
        dataset_id=dataset_id,
        requests_per_minute=0,
        spool_dir=spool_dir,
        **({"export_timeout": args["export_timeout"]} if "export_timeout" in args else {}),
    )
    _produce(handle, WARMUP, 1)
    baseline = common.rss_mb()
    rss = _produce(handle, args["spans"], 20)
    produced_seconds = _settle(handle, quiet_seconds=1.0, limit_seconds=args["settle"])
    after = handle.stats
    result: dict[str, Any] = {
        "spans": WARMUP + args["spans"],
        "baseline_rss_mb": baseline,
        "rss": rss,
        "peak_rss_mb": max(s["rss_mb"] for s in rss),
        "settled_rss_mb": common.rss_mb(),
        "settle_seconds": produced_seconds,
        "stats_down": after,
    }
    if args["spool"]:
        backend = servers.start(
            "local", port=port, db=str(Path(db) / "bench.db"), dataset_id=dataset_id
        )
        started = time.monotonic()
        flushed = handle.flush(timeout_seconds=args["settle"])
        result["replay_seconds"] = time.monotonic() - started
        result["flushed"] = flushed
        result["stats_back"] = handle.stats
        result["server_logs"] = backend.stop()["log_count"]
        shutil.rmtree(spool_dir, ignore_errors=True)
    shutil.rmtree(db, ignore_errors=True)
    return result


def steady(args: dict[str, Any]) -> dict[str, Any]:
    backend = servers.start("sink")
    handle = respan_otel.configure(
        api_key=backend.api_key,
        base_url=backend.base_url,
        dataset_id=backend.dataset_id,
        requests_per_minute=0,
    )
    started = time.monotonic()
    samples = []
    for tenth in range(1, 11):
        peak_queue = max(s["queue"] for s in _produce(handle, args["calls"] // 10, 20))
        handle.flush(timeout_seconds=60)  # what is still held after this is retained
        gc.collect()
        samples.append(
            {
                "calls": tenth * (args["calls"] // 10),
                "rss_mb": common.rss_mb(),
                "blocks": sys.getallocatedblocks(),
                "queue": peak_queue,
            }
        )
    seconds = time.monotonic() - started
    stats = handle.stats
    assert handle.exporter is not None
    assert handle.exporter.delivery is not None
    pacer_entries = len(handle.exporter.delivery.pacer._sent)  # pacing is off: it needs none
    backend.stop()
    return {
        "calls": args["calls"],
        "seconds": seconds,
        "rss": samples,
        "stats": stats,
        "pacer_entries": pacer_entries,
    }


def tracing(args: dict[str, Any]) -> dict[str, Any]:
    provider, exporter = common.discarding_provider()
    otel_trace.set_tracer_provider(provider)

    @respan_otel.trace
    def step(i: int) -> int:
        return i

    def rounds(count: int) -> None:
        for i in range(count):
            with respan_otel.span("s"), respan_otel.propagate(session_id="x"):
                step(i)

    rounds(WARMUP)
    provider.force_flush()
    gc.collect()
    started = time.monotonic()
    samples = [{"calls": 0, "blocks": sys.getallocatedblocks(), "context": _context_size()}]
    for tenth in range(1, 11):
        rounds(args["calls"] // 10)
        provider.force_flush()  # spans still queued for export are not ours to count
        gc.collect()
        samples.append(
            {
                "calls": tenth * (args["calls"] // 10),
                "blocks": sys.getallocatedblocks(),
                "context": _context_size(),
            }
        )
    return {
        "calls": args["calls"],
        "seconds": time.monotonic() - started,
        "samples": samples,
        "spans": exporter.count,
    }


def _context_size() -> int:
    return len(contextvars.copy_context())


def main() -> None:
    logging.disable(logging.CRITICAL)  # the SDK logs every span dropped from a full queue
    args = common.worker_args()
    modes = {"outage": outage, "steady": steady, "tracing": tracing}
    common.emit(modes[args["mode"]](args))
    os._exit(0)  # skip configure()'s bounded flush at exit: the backend is gone


if __name__ == "__main__":
    main()
