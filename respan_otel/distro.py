"""The optional OpenTelemetry distro and configurator, for ``opentelemetry-instrument``.

Installed with ``pip install 'respan-otel[distro]'``, which brings the launcher. Then::

    RESPAN_API_KEY=... RESPAN_DATASET_ID=... opentelemetry-instrument python app.py

needs no other setting. The distro only fills in what the user left unset:

- ``OTEL_TRACES_EXPORTER=respan``;
- ``OTEL_METRICS_EXPORTER=none`` and ``OTEL_LOGS_EXPORTER=none``, because the SDK
  resolves all three signals before building anything, and one missing exporter
  (the usual default, OTLP over gRPC, is often not installed) silently leaves the
  application with no tracing at all;
- ``OTEL_BSP_MAX_EXPORT_BATCH_SIZE=500`` (one full bulk request; the SDK's 512 would
  cost two), ``OTEL_BSP_SCHEDULE_DELAY=2000`` and ``OTEL_BSP_MAX_QUEUE_SIZE=20000``.

The configurator is the SDK's own, plus :class:`~respan_otel.PropagationSpanProcessor`,
so ``propagate()`` values reach every span, other instrumentations' included.

When another distro is installed too (``opentelemetry-distro``), the launcher picks one
of them; this distro defers to the other unless ``OTEL_PYTHON_DISTRO=respan`` asks for
it, so installing respan-otel never changes an existing setup by itself.
"""

from __future__ import annotations

import os
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Final

from opentelemetry import trace
from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]
from opentelemetry.sdk._configuration import _OTelSDKConfigurator
from opentelemetry.sdk.trace import TracerProvider

from respan_otel._log import logger
from respan_otel._tracing._processor import PropagationSpanProcessor

NAME: Final = "respan"

DEFAULTS: Final = {
    "OTEL_TRACES_EXPORTER": NAME,
    "OTEL_METRICS_EXPORTER": "none",
    "OTEL_LOGS_EXPORTER": "none",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "500",
    "OTEL_BSP_SCHEDULE_DELAY": "2000",
    "OTEL_BSP_MAX_QUEUE_SIZE": "20000",
}


def _other_distro() -> BaseDistro | None:
    """Another installed distro this one should defer to, if any."""
    if os.environ.get("OTEL_PYTHON_DISTRO") == NAME:
        return None
    for entry_point in entry_points(group="opentelemetry_distro"):
        if entry_point.name == NAME:
            continue
        try:
            candidate = entry_point.load()()
        except Exception as exc:
            logger.debug("respan_otel: distro %s could not be loaded: %s", entry_point.name, exc)
            continue
        if isinstance(candidate, BaseDistro):
            return candidate
    return None


class RespanDistro(BaseDistro):  # type: ignore[misc]
    """Sets respan-otel's defaults for what the user did not set."""

    def _configure(self, **kwargs: Any) -> None:
        other = _other_distro()
        if other is not None:
            logger.debug("respan_otel: deferring to the %s distro", type(other).__name__)
            other.configure(**kwargs)
            return
        for name, value in DEFAULTS.items():
            os.environ.setdefault(name, value)

    def load_instrumentor(self, entry_point: EntryPoint, **kwargs: Any) -> None:
        other = _other_distro()
        if other is not None:
            other.load_instrumentor(entry_point, **kwargs)
            return
        super().load_instrumentor(entry_point, **kwargs)


class RespanConfigurator(_OTelSDKConfigurator):
    """The SDK's configurator, plus the processor that stamps ``propagate()`` values."""

    def _configure(self, **kwargs: Any) -> None:
        super()._configure(**kwargs)  # type: ignore[no-untyped-call]
        provider = trace.get_tracer_provider()
        if isinstance(provider, TracerProvider):
            provider.add_span_processor(PropagationSpanProcessor())
