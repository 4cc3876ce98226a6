"""Span attribute names written by respan-otel.

Every name here is documented in ``docs/conventions.md``. Structured values (input,
output, metadata) are JSON strings and metrics are plain numbers, so they survive any
OpenTelemetry backend and SDK versions that reject maps as attribute values.
"""

from __future__ import annotations

from typing import Final

TRACER_NAME: Final = "respan_otel"
"""Instrumentation scope of our spans; the propagation processor skips them."""

KIND: Final = "respan.span.kind"
"""The span kind given to ``@trace``/``span`` (workflow, llm, ...); not written for the
default, ``DEFAULT_KIND``: a span of our tracer without it is a ``task``."""

DEFAULT_KIND: Final = "task"

DATASET: Final = "respan.dataset"
"""Dataset id or name the span's log should go to; spans started inside inherit it."""

INPUT: Final = "respan.input"
"""JSON string: bound call arguments, or what ``set_input`` gave."""

OUTPUT: Final = "respan.output"
"""JSON string: return value, collected generator items, or what ``set_output`` gave."""

METADATA: Final = "respan.metadata"
"""JSON string of an object: propagated metadata merged with call-site metadata."""

METRICS_PREFIX: Final = "respan.metrics."
"""``respan.metrics.<name>``: one numeric attribute per metric."""

END_REASON: Final = "respan.end_reason"
"""Why a span ended other than by returning: ``closed`` or ``cancelled``."""

SESSION_ID: Final = "respan.session_id"
CUSTOMER_IDENTIFIER: Final = "respan.customer_identifier"
THREAD_IDENTIFIER: Final = "respan.thread_identifier"
CUSTOM_IDENTIFIER: Final = "respan.custom_identifier"

PROPAGATED_IDS: Final = {
    "session_id": SESSION_ID,
    "customer_identifier": CUSTOMER_IDENTIFIER,
    "thread_identifier": THREAD_IDENTIFIER,
    "custom_identifier": CUSTOM_IDENTIFIER,
}
"""Keyword name in ``propagate()`` -> attribute name."""

ERROR_TYPE: Final = "error.type"
"""OpenTelemetry's own name for the class of a failure."""
