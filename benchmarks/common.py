"""Pieces shared by every benchmark process, the peers' venvs included.

Only the standard library and the OpenTelemetry SDK are imported here, so a peer's venv
can run it without respan-otel. A worker is this directory's script run with a JSON
argument; it prints one JSON object as its last line of output.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import Tracer

SHAPES = ("sync", "async", "generator", "nested")
"""Per call: ``f(x, y)``; the same as a coroutine; a generator of 10 items consumed to
the end; one outer call that calls a decorated inner function 10 times (11 spans)."""

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


class Workload:
    """``workload(n)`` makes ``n`` calls of one shape and counts them."""

    def __init__(self, body: Callable[[int], None], spans_per_call: int) -> None:
        self.body = body
        self.spans_per_call = spans_per_call
        self.calls = 0

    def __call__(self, n: int) -> None:
        self.calls += n
        self.body(n)


# -- the traced functions ----------------------------------------------------------------


def make_workloads(
    outer: Decorator, inner: Decorator | None = None, *, shapes: Iterable[str] = SHAPES
) -> dict[str, Workload]:
    """One workload per shape, calling functions decorated by ``outer`` (and ``inner`` for
    the nested shape's children; default ``outer``). Only ``shapes`` are decorated."""
    shapes = tuple(shapes)
    inner = inner or outer
    x = {"a": 1}
    runs: dict[str, Workload] = {}

    if "sync" in shapes:

        @outer
        def f(x: dict[str, int], y: int) -> dict[str, Any]:
            return {"sum": x["a"] + y, "items": list(range(10))}

        def run_sync(n: int) -> None:
            for _ in range(n):
                f(x, 2)

        runs["sync"] = Workload(run_sync, 1)

    if "async" in shapes:

        @outer
        async def af(x: dict[str, int], y: int) -> dict[str, Any]:
            return {"sum": x["a"] + y, "items": list(range(10))}

        async def many(n: int) -> None:
            for _ in range(n):
                await af(x, 2)

        loop = asyncio.new_event_loop()
        runs["async"] = Workload(lambda n: loop.run_until_complete(many(n)), 1)

    if "generator" in shapes:

        @outer
        def gen(x: dict[str, int], y: int) -> Any:
            for i in range(10):
                yield {"i": i, "sum": x["a"] + y}

        def run_generator(n: int) -> None:
            for _ in range(n):
                for _item in gen(x, 2):
                    pass

        runs["generator"] = Workload(run_generator, 1)

    if "nested" in shapes:

        @inner
        def child(x: dict[str, int], y: int) -> dict[str, Any]:
            return {"sum": x["a"] + y, "items": list(range(10))}

        @outer
        def parent(x: dict[str, int], y: int) -> int:
            return sum(child(x, i)["sum"] for i in range(10))

        def run_nested(n: int) -> None:
            for _ in range(n):
                parent(x, 2)

        runs["nested"] = Workload(run_nested, 11)

    return runs


def undecorated(func: Callable[..., Any]) -> Callable[..., Any]:
    return func


def expected_spans(workloads: dict[str, Workload]) -> int:
    return sum(w.calls * w.spans_per_call for w in workloads.values())


# -- the raw OpenTelemetry baseline -------------------------------------------------------


def raw_decorator(tracer: Tracer, *, capture: bool = True) -> Decorator:
    """The baseline: ``start_as_current_span`` and, with ``capture``, ``json.dumps`` of
    ``{"args", "kwargs"}`` into ``input`` and of the result (a generator's items as a
    list) into ``output``. What anyone would write by hand in a few lines."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        name = func.__qualname__
        if inspect.isgeneratorfunction(func):

            @functools.wraps(func)
            def gen_wrapper(*args: Any, **kwargs: Any) -> Any:
                with tracer.start_as_current_span(name) as span:
                    if capture:
                        span.set_attribute("input", json.dumps({"args": args, "kwargs": kwargs}))
                    items = []
                    for item in func(*args, **kwargs):
                        items.append(item)
                        yield item
                    if capture:
                        span.set_attribute("output", json.dumps(items))

            return gen_wrapper
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with tracer.start_as_current_span(name) as span:
                    if capture:
                        span.set_attribute("input", json.dumps({"args": args, "kwargs": kwargs}))
                    result = await func(*args, **kwargs)
                    if capture:
                        span.set_attribute("output", json.dumps(result))
                    return result

            return async_wrapper

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with tracer.start_as_current_span(name) as span:
                if capture:
                    span.set_attribute("input", json.dumps({"args": args, "kwargs": kwargs}))
                result = func(*args, **kwargs)
                if capture:
                    span.set_attribute("output", json.dumps(result))
                return result

        return wrapper

    return decorate


class DiscardingExporter(SpanExporter):
    """Counts spans and the attribute keys seen; sends nothing anywhere."""

    def __init__(self) -> None:
        self.count = 0
        self.keys: set[str] = set()

    def export(self, spans: Any) -> SpanExportResult:
        self.count += len(spans)
        if spans:
            last: ReadableSpan = spans[-1]
            self.keys.update(last.attributes or {})
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def discarding_provider() -> tuple[TracerProvider, DiscardingExporter]:
    """A provider with one ``BatchSpanProcessor`` (SDK defaults) over a discarding exporter."""
    exporter = DiscardingExporter()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider, exporter


# -- timing --------------------------------------------------------------------------------


def per_call_us(run: Workload, calls: int) -> float:
    start = time.perf_counter()
    run(calls)
    return (time.perf_counter() - start) / calls * 1e6


def calibrate(run: Workload, target_seconds: float) -> int:
    """Calls that take about ``target_seconds`` (this also warms ``run`` up)."""
    calls = 1
    while True:
        start = time.perf_counter()
        run(calls)
        took = time.perf_counter() - start
        if took >= 0.02 or calls >= 1_000_000:
            return max(1, min(1_000_000, round(calls * target_seconds / max(took, 1e-9))))
        calls *= 4


def interleaved(
    variants: dict[str, dict[str, Workload]],
    *,
    rounds: int,
    target_seconds: float,
    shapes: Iterable[str] = SHAPES,
) -> dict[str, dict[str, list[float]]]:
    """µs per call of every variant and shape: ``rounds`` samples each, the variants run
    in a rotating order within each round so drift hits them alike."""
    shapes = list(shapes)
    names = list(variants)
    calls = {
        (name, shape): calibrate(variants[name][shape], target_seconds)
        for name in names
        for shape in shapes
    }
    samples: dict[str, dict[str, list[float]]] = {name: {s: [] for s in shapes} for name in names}
    for round_index in range(rounds):
        order = names[round_index % len(names) :] + names[: round_index % len(names)]
        for shape in shapes:
            for name in order:
                run = variants[name][shape]
                samples[name][shape].append(per_call_us(run, calls[name, shape]))
    return samples


def summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def paired_ratio(top: list[float], bottom: list[float]) -> dict[str, float]:
    """Median, min and max of the per-round ratios ``top[i] / bottom[i]``."""
    return summary([a / b for a, b in zip(top, bottom, strict=True)])


# -- process plumbing -------------------------------------------------------------------------


def rss_mb() -> float:
    """Resident set size of this process, from /proc (Linux)."""
    with Path("/proc/self/status").open(encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def worker_args() -> dict[str, Any]:
    return json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}


def emit(result: dict[str, Any]) -> None:
    """Hand the result to the parent: one JSON line, the last thing printed."""
    sys.stdout.write("\n" + json.dumps(result) + "\n")
    sys.stdout.flush()
