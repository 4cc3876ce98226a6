"""respan-otel: turn a running LLM application into Respan evaluation datasets.

``@trace`` and ``span()`` record workflow functions as OpenTelemetry spans (input,
output, metadata, metrics); :class:`RespanDatasetExporter` turns finished spans into
dataset logs; :func:`configure` wires it all up in one call; :class:`RespanClient`
covers the rest of the datasets API; :mod:`respan_otel.local` runs a compatible
server offline.
"""

from respan_otel._export._exporter import ExportStats, RespanDatasetExporter
from respan_otel._setup import Respan, configure, flush, flush_after, shutdown
from respan_otel._tracing._decorator import trace
from respan_otel._tracing._propagation import Propagation, PropagationSpanProcessor, propagate
from respan_otel._tracing._span import KINDS, Kind, RespanSpan, span, update_current_span
from respan_otel._tracing._threads import ContextThreadPoolExecutor, wrap_context
from respan_otel._version import __version__
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

__all__ = [
    "KINDS",
    "APIConnectionError",
    "APITimeoutError",
    "AuthenticationError",
    "ContextThreadPoolExecutor",
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
    "shutdown",
    "span",
    "trace",
    "update_current_span",
    "wrap_context",
]
