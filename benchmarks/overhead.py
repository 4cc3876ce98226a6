"""Worker: per-call overhead of ``@trace`` against the raw OpenTelemetry baseline.

``{"mode": "main"}`` times, interleaved in one process whose global provider has one
``BatchSpanProcessor`` over a discarding exporter: undecorated functions, the raw
baseline with and without attributes, ``@trace``, and ``@trace`` with capture off.
``{"mode": "disabled"}`` runs with ``OTEL_SDK_DISABLED=true`` set by the parent (so the
setting is real from interpreter start) and times undecorated functions against ``@trace``.
"""

from __future__ import annotations

import common
from opentelemetry import trace as otel_trace

import respan_otel


def main() -> None:
    args = common.worker_args()
    provider, exporter = common.discarding_provider()
    otel_trace.set_tracer_provider(provider)
    tracer = provider.get_tracer("raw")
    no_capture = respan_otel.trace(capture_input=False, capture_output=False)
    if args["mode"] == "disabled":
        respan_otel.configure(api_key="unused")  # a no-op under OTEL_SDK_DISABLED
        variants = {
            "undecorated": common.make_workloads(common.undecorated),
            "trace-disabled": common.make_workloads(respan_otel.trace),
        }
    else:
        variants = {
            "undecorated": common.make_workloads(common.undecorated),
            "raw": common.make_workloads(common.raw_decorator(tracer)),
            "raw-noattrs": common.make_workloads(common.raw_decorator(tracer, capture=False)),
            "trace": common.make_workloads(respan_otel.trace),
            "trace-nocapture": common.make_workloads(no_capture),
        }
    samples = common.interleaved(
        variants, rounds=args["rounds"], target_seconds=args["target_seconds"]
    )
    provider.force_flush()
    traced = [name for name in variants if name != "undecorated"]
    common.emit(
        {
            "samples": samples,
            "spans": exporter.count,
            "expected_spans": sum(common.expected_spans(variants[name]) for name in traced),
            "attributes": sorted(exporter.keys),
        }
    )


if __name__ == "__main__":
    main()
