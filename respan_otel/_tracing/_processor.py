"""``PropagationSpanProcessor``: ``propagate()`` values and an outer span's dataset on
other instrumentations' spans. The only tracing module that needs the OpenTelemetry SDK.
"""

from __future__ import annotations

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from respan_otel import _attributes as attrs
from respan_otel._log import log_internal_error
from respan_otel._tracing._propagation import current_propagated


class PropagationSpanProcessor(SpanProcessor):
    """Copies ``propagate()`` values, and the dataset of the ``@trace``/``span()`` around
    it, onto every span when it starts.

    ``configure()`` installs it. With your own provider, add it yourself, before the
    exporting processors::

        provider.add_span_processor(PropagationSpanProcessor())

    Spans of respan-otel's own tracer already carry the values and are skipped.
    """

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        try:
            scope = span.instrumentation_scope
            if scope is not None and scope.name == attrs.TRACER_NAME:
                return
            values = current_propagated(parent_context)
            if values is not None and values.attributes:
                span.set_attributes(values.attributes)
        except Exception as exc:
            log_internal_error("PropagationSpanProcessor.on_start", exc)

    def on_end(self, span: ReadableSpan) -> None:
        return None
