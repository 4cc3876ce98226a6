"""The ``respan_otel`` logger and the guard that reports internal failures once."""

from __future__ import annotations

import logging
import threading

logger = logging.getLogger("respan_otel")

_reported: set[tuple[str, type[BaseException]]] = set()
_reported_lock = threading.Lock()


def log_internal_error(where: str, exc: BaseException) -> None:
    """Log a failure inside respan-otel itself: a warning the first time, debug after.

    Instrumentation must never break the host program, so callers catch and call this;
    one warning per (place, exception type) keeps a hot path from flooding the log.
    """
    key = (where, type(exc))
    with _reported_lock:
        first = key not in _reported
        _reported.add(key)
    if first:
        logger.warning(
            "respan_otel: internal error in %s; the traced code is unaffected", where, exc_info=exc
        )
    else:
        logger.debug("respan_otel: internal error in %s again", where, exc_info=exc)
