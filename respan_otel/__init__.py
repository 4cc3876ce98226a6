"""respan-otel: turn a running LLM application into Respan evaluation datasets.

``@trace`` and ``span()`` record workflow functions as OpenTelemetry spans (input,
output, metadata, metrics); :class:`RespanDatasetExporter` turns finished spans into
dataset logs; :func:`configure` wires it all up in one call; :class:`RespanClient`
covers the rest of the datasets API; :mod:`respan_otel.local` runs a compatible
server offline.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Final

from respan_otel._tracing._checks import KINDS, Kind
from respan_otel._tracing._decorator import trace
from respan_otel._tracing._handle import RespanSpan
from respan_otel._tracing._propagation import Propagation, propagate
from respan_otel._tracing._span import span, update_current_span
from respan_otel._version import __version__

if TYPE_CHECKING:  # imported on first use below; type checkers and IDEs see them here
    from respan_otel._export._exporter import ExportStats, RespanDatasetExporter
    from respan_otel._export._processor import DatasetSpanProcessor
    from respan_otel._setup import Respan, configure, flush, flush_after, shutdown
    from respan_otel._tracing._processor import PropagationSpanProcessor
    from respan_otel._tracing._threads import ContextThreadPoolExecutor, wrap_context
    from respan_otel.client._client import RespanClient
    from respan_otel.client._errors import (
        APIConnectionError,
        APITimeoutError,
        AuthenticationError,
        NotFoundError,
        PermissionDeniedError,
        RateLimitError,
        RespanError,
        ServerError,
        ValidationError,
    )
    from respan_otel.experiments._run import run_experiment

# Exporting, setup and the REST client pull in requests and urllib3, the thread helpers
# concurrent.futures: loaded when first named, so ``import respan_otel`` (and ``@trace``
# at import time) stays cheap.
_LAZY: Final = {
    "ExportStats": "respan_otel._export._exporter",
    "RespanDatasetExporter": "respan_otel._export._exporter",
    "DatasetSpanProcessor": "respan_otel._export._processor",
    "Respan": "respan_otel._setup",
    "configure": "respan_otel._setup",
    "flush": "respan_otel._setup",
    "flush_after": "respan_otel._setup",
    "shutdown": "respan_otel._setup",
    "PropagationSpanProcessor": "respan_otel._tracing._processor",
    "ContextThreadPoolExecutor": "respan_otel._tracing._threads",
    "wrap_context": "respan_otel._tracing._threads",
    "RespanClient": "respan_otel.client._client",
    "run_experiment": "respan_otel.experiments._run",
    **dict.fromkeys(
        (
            "APIConnectionError",
            "APITimeoutError",
            "AuthenticationError",
            "NotFoundError",
            "PermissionDeniedError",
            "RateLimitError",
            "RespanError",
            "ServerError",
            "ValidationError",
        ),
        "respan_otel.client._errors",
    ),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'respan_otel' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "KINDS",
    "APIConnectionError",
    "APITimeoutError",
    "AuthenticationError",
    "ContextThreadPoolExecutor",
    "DatasetSpanProcessor",
    "ExportStats",
    "Kind",
    "NotFoundError",
    "PermissionDeniedError",
    "Propagation",
    "PropagationSpanProcessor",
    "RateLimitError",
    "Respan",
    "RespanClient",
    "RespanDatasetExporter",
    "RespanError",
    "RespanSpan",
    "ServerError",
    "ValidationError",
    "__version__",
    "configure",
    "flush",
    "flush_after",
    "propagate",
    "run_experiment",
    "shutdown",
    "span",
    "trace",
    "update_current_span",
    "wrap_context",
]
