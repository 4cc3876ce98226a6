"""What an exporter wires around itself: its delivery (pacer, sender, resolver and spool,
from its settings), the context its HTTP calls run in, and its fork hook.

The spool opens at its place (``RESPAN_SPOOL_DIR``, or the per-user cache directory);
the default place falls back to the temp directory when it is not writable (serverless),
with a line saying so.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable
from typing import Final

from opentelemetry import context as otel_context

from respan_otel._export._delivery import Delivery
from respan_otel._export._keeping import Notes
from respan_otel._export._pacer import RequestPacer
from respan_otel._export._resolver import DatasetResolver
from respan_otel._export._sender import BulkSender
from respan_otel._export._spool import Spool
from respan_otel._export._stats import ExportStats
from respan_otel._settings import ExporterSettings, destination_key, fallback_spool_dir
from respan_otel.client._transport import HTTPTransport

_SUPPRESS_KEYS: Final = (
    otel_context._SUPPRESS_INSTRUMENTATION_KEY,
    otel_context._SUPPRESS_HTTP_INSTRUMENTATION_KEY,
    "suppress_instrumentation",  # the legacy key some instrumentations still read
)


def build_delivery(
    settings: ExporterSettings, http: HTTPTransport, stats: ExportStats, notes: Notes
) -> Delivery:
    """A :class:`Delivery` sending through ``http`` as ``settings`` say."""
    pacer = RequestPacer(settings.requests_per_minute)
    return Delivery(
        sender=BulkSender(http, request_timeout=settings.request_timeout),
        resolver=DatasetResolver(http, pacer=pacer, request_timeout=settings.request_timeout),
        pacer=pacer,
        spool=open_spool(settings, notes),
        stats=stats,
        batch_size=settings.batch_size,
        max_request_bytes=settings.max_request_bytes,
        notes=notes,
    )


def open_spool(settings: ExporterSettings, notes: Notes) -> Spool | None:
    """The spool, at its place; the default place falls back to the temp directory."""
    if settings.spool_dir is None:
        return None
    candidates = [settings.spool_dir]
    if settings.spool_is_default:
        destination = destination_key(settings.base_url, settings.api_key)
        candidates.append(fallback_spool_dir(destination))
    for directory in candidates:
        spool = Spool(directory, max_bytes=settings.spool_max_bytes)
        try:
            spool.ensure()
        except OSError as exc:
            notes.say(
                f"spool-dir:{directory}",
                "respan_otel: the spool directory %s is not writable (%s)%s",
                directory,
                exc,
                "; trying the next place"
                if directory != candidates[-1]
                else "; logs not delivered at exit will be lost (set RESPAN_SPOOL_DIR to a "
                "writable directory)",
            )
            continue
        return spool
    return None


def suppressed_context() -> otel_context.Context:
    """The current context with instrumentation suppressed: the exporter's own HTTP calls
    never become spans (nor logs of their own)."""
    ctx = otel_context.get_current()
    for key in _SUPPRESS_KEYS:
        ctx = otel_context.set_value(key, True, ctx)
    return ctx


def call_in_forked_children(method: Callable[[], None]) -> None:
    """Call the bound ``method`` in every forked child, as long as its object lives."""
    reference = weakref.WeakMethod(method)

    def hook() -> None:
        target = reference()
        if target is not None:
            target()

    os.register_at_fork(after_in_child=hook)
