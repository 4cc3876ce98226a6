"""Worker: what the exporter delivers, in logs per second.

- ``throughput``: mapping and encoding alone (``RowBuilder.build`` and the encoder, per
  CPU-second), then spans -> logs -> request bodies through the public
  ``RespanDatasetExporter.export()``, into a backend that answers at once (another
  process), for typical ~1 KB logs and for 100 KB logs. Reports wall-clock logs/s and
  logs per CPU-second of the exporting thread (mapping, encoding and the HTTP client).
- ``delivery``: the same export path into ``LocalRespan`` (another process, SQLite), with
  pacing off; logs/s until the server holds them all.
- ``paced``: ``configure()`` as users call it (default 30 requests/min, 500 logs per
  request: a 250 logs/s ceiling), an app producing 20 % more spans than the ceiling, and
  ``LocalRespan`` emulating the limit. Delivery is counted over the second pacing window
  (the first is a burst from an empty window), with every 429 counted.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

import common
import servers
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import respan_otel
from respan_otel._export._encode import encode
from respan_otel._export._pacer import RequestPacer
from respan_otel._export._rows import RowBuilder

PROSE = (
    "the model retrieves relevant passages, ranks them by score and writes a short answer "
    'with "citations" to each source; latency, cost and tokens are recorded per step.\n'
)
WORDS = PROSE.split(" ")


def text(size: int, seed: int) -> str:
    """About ``size`` characters of prose-like ASCII, different for each ``seed``."""
    words: list[str] = []
    length, i = 0, seed
    while length < size:
        word = WORDS[i % len(WORDS)]
        words.append(word)
        length += len(word) + 1
        i += 7
    return " ".join(words)[:size]


ANSWERS = [text(200, i) for i in range(64)]
QUESTIONS = [text(120, i) + "?" for i in range(64)]
PASSAGES = [[text(90, i + j) for j in range(3)] for i in range(64)]
DOCUMENTS = [text(50_000, i) for i in range(8)]


@respan_otel.trace(kind="llm", metadata={"model": "bench-model", "prompt_version": 3})
def answer(question: str, passages: list[str], temperature: float = 0.2) -> dict[str, Any]:
    return {
        "answer": ANSWERS[len(question) % 64],
        "citations": [0, 2],
        "usage": {"prompt_tokens": 412, "completion_tokens": 96},
    }


@respan_otel.trace(kind="task")
def summarize(document: str, instructions: str) -> str:
    return DOCUMENTS[len(document) % 8]


def typical_call(i: int) -> None:
    """One call whose dataset log is about 1 KB."""
    answer(QUESTIONS[i % 64], PASSAGES[i % 64], temperature=0.2)


def large_call(i: int) -> None:
    """One call whose dataset log is about 100 KB."""
    summarize(DOCUMENTS[i % 8], "Summarize for a product manager.")


_memory: InMemorySpanExporter | None = None


def make_spans(call: Any, count: int) -> list[ReadableSpan]:
    """``count`` finished spans of ``call``, recorded by ``@trace`` into memory."""
    global _memory
    if _memory is None:  # the global provider can be set once per process
        _memory = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(_memory))
        otel_trace.set_tracer_provider(provider)
    for i in range(count):
        call(i)
    spans = list(_memory.get_finished_spans())
    _memory.clear()
    return spans


def export_rate(
    exporter: respan_otel.RespanDatasetExporter, spans: list[ReadableSpan], rounds: int
) -> dict[str, list[float]]:
    """Logs/s (wall and per CPU-second of this thread) over ``rounds`` passes of ``spans``."""
    wall: list[float] = []
    cpu: list[float] = []
    exporter.export(spans[:50])  # warm-up: connection, caches
    for _ in range(rounds):
        start, start_cpu = time.perf_counter(), time.thread_time()
        for offset in range(0, len(spans), 500):
            exporter.export(spans[offset : offset + 500])
        took, took_cpu = time.perf_counter() - start, time.thread_time() - start_cpu
        wall.append(len(spans) / took)
        cpu.append(len(spans) / took_cpu)
    return {"wall": wall, "cpu": cpu}


def new_exporter(backend: servers.Backend, **options: Any) -> respan_otel.RespanDatasetExporter:
    return respan_otel.RespanDatasetExporter(
        api_key=backend.api_key,
        base_url=backend.base_url,
        dataset_id=backend.dataset_id,
        requests_per_minute=0,
        **options,
    )


def map_encode_rate(spans: list[ReadableSpan], rounds: int) -> dict[str, list[float]]:
    """Typical logs per CPU-second of mapping (``RowBuilder.build``) and encoding: the
    exporter's own work on the caller's data, without HTTP. ``spliced``: as the exporter
    does it (our own input/output JSON written into the body as is); ``parsed``: that
    JSON parsed and encoded again (as before), timed right after, round by round."""
    rates: dict[str, list[float]] = {"spliced": [], "parsed": []}
    for _ in range(rounds):
        for name in rates:
            builder = RowBuilder(splice=name == "spliced")  # fresh: no dedupe memory
            start = time.thread_time()
            rows = builder.build(spans).rows
            encoded = [encode(row.body) for row in rows]
            took = time.thread_time() - start
            assert len(encoded) == len(spans)
            rates[name].append(len(spans) / took)
    return rates


def throughput(args: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    rates = map_encode_rate(make_spans(typical_call, args["typical"]), 5)
    result["map_encode_cpu"] = rates["spliced"]
    result["map_encode_parsed_cpu"] = rates["parsed"]
    cases = {"typical": (typical_call, args["typical"]), "large": (large_call, args["large"])}
    for name, (call, count) in cases.items():
        spans = make_spans(call, count)
        backend = servers.start("sink")
        exporter = new_exporter(backend)
        rates = export_rate(exporter, spans, args["rounds"])
        stats = exporter.stats.snapshot()
        exporter.shutdown()
        sink = backend.stop()
        result[name] = {
            **rates,
            "logs": count,
            "bytes_per_log": sink["bytes"] / max(1, stats["exported"]),
            "logs_per_request": stats["exported"] / max(1, sink["requests"]),
            "stats": stats,
        }
    return result


def delivery(args: dict[str, Any]) -> dict[str, Any]:
    count = args["typical"]
    spans = make_spans(typical_call, count)
    backend = servers.start("local")
    exporter = new_exporter(backend)
    start = time.perf_counter()
    for offset in range(0, count, 500):
        exporter.export(spans[offset : offset + 500])
    took = time.perf_counter() - start
    stats = exporter.stats.snapshot()
    exporter.shutdown()
    server = backend.stop()
    return {"logs": count, "seconds": took, "stats": stats, "server_logs": server["log_count"]}


def paced(args: dict[str, Any]) -> dict[str, Any]:
    limit, window, batch = args["limit"], args["window"], args["batch"]
    ceiling = limit * batch / window
    backend = servers.start("local", rate_limit=limit, window=window)
    handle = respan_otel.configure(
        api_key=backend.api_key,
        base_url=backend.base_url,
        dataset_id=backend.dataset_id,
        requests_per_minute=limit,
        batch_size=batch,
    )
    exporter = handle.exporter
    assert exporter is not None
    if window != 60.0:  # shortened windows (quick mode): the pacer keeps a margin too
        pacer = RequestPacer(limit, window=window + max(0.05, 0.25 * window / 60))
        assert exporter.delivery is not None
        exporter.delivery.pacer = exporter.delivery.resolver.pacer = pacer
    rate = 1.2 * ceiling
    duration = 2 * window + args["tail"]
    samples: list[tuple[float, int]] = []
    stop = threading.Event()

    def monitor() -> None:
        while not stop.is_set():
            samples.append((time.monotonic(), exporter.stats.snapshot()["exported"]))
            stop.wait(0.02)

    watcher = threading.Thread(target=monitor, daemon=True)
    watcher.start()
    started = time.monotonic()
    produced = 0
    while (now := time.monotonic()) < started + duration:
        due = int((now - started) * rate)
        while produced < due:
            typical_call(produced)
            produced += 1
        time.sleep(0.005)
    stop.set()
    watcher.join()
    stats = exporter.stats.snapshot()
    server = backend.stop()
    first = server["passed"][0] if server["passed"] else started
    in_window = [n for t, n in samples if first + window <= t < first + 2 * window]
    steady = (in_window[-1] - in_window[0]) / window if len(in_window) > 1 else 0.0
    return {
        "limit": limit,
        "window": window,
        "batch": batch,
        "ceiling": ceiling,
        "offered_rate": rate,
        "produced": produced,
        "seconds": time.monotonic() - started,
        "steady_rate": steady,
        "requests_passed": len(server["passed"]),
        "refused_429": server["refused"],
        "server_logs": server["log_count"],
        "stats": stats,
    }


def main() -> None:
    logging.disable(logging.WARNING)
    args = common.worker_args()
    mode = {"throughput": throughput, "delivery": delivery, "paced": paced}[args["mode"]]
    common.emit(mode(args))
    os._exit(0)  # skip configure()'s flush at exit: the backends are gone


if __name__ == "__main__":
    main()
