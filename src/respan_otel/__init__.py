"""respan-otel: turn a running LLM application into Respan evaluation datasets.

``@trace`` and ``span()`` record workflow functions as OpenTelemetry spans (input,
output, metadata, metrics); the exporter turns finished spans into dataset logs.
"""

from respan_otel._decorator import trace
from respan_otel._propagation import Propagation, PropagationSpanProcessor, propagate
from respan_otel._span import KINDS, Kind, RespanSpan, span, update_current_span
from respan_otel._threads import ContextThreadPoolExecutor, wrap_context
from respan_otel._version import __version__

__all__ = [
    "KINDS",
    "ContextThreadPoolExecutor",
    "Kind",
    "Propagation",
    "PropagationSpanProcessor",
    "RespanSpan",
    "__version__",
    "propagate",
    "span",
    "trace",
    "update_current_span",
    "wrap_context",
]
