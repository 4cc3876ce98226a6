"""Our own ``respan.*`` attributes (``@trace``/``span()``), and respan-tracing's names.

Our attributes were redacted and bounded when they were recorded: they are read as is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from respan_otel import _attributes as attrs
from respan_otel._export.conventions._common import MISSING, parse, text
from respan_otel._serialize import to_jsonable

LOG_TYPE: Final = "respan.entity.log_type"
"""respan-tracing's span kind."""

SESSION_KEYS: Final = ("respan.sessions.session_identifier",)
CUSTOMER_KEYS: Final = ("respan.customer_params.customer_identifier",)
THREAD_KEYS: Final = ("respan.threads.thread_identifier",)
CUSTOM_KEYS: Final = ("respan.span_params.custom_identifier",)


def own_json(attributes: Mapping[str, Any], key: str) -> Any:
    """Our JSON-string attributes, parsed back into native JSON."""
    raw = attributes.get(key)
    if raw is None:
        return MISSING
    if isinstance(raw, str):
        parsed = parse(raw)
        return text(raw) if parsed is MISSING else parsed
    return to_jsonable(raw)


def is_own(attributes: Mapping[str, Any]) -> bool:
    """Made by ``@trace``/``span()`` (or respan-tracing): a step the user chose to record."""
    return attrs.KIND in attributes or LOG_TYPE in attributes


def kind(attributes: Mapping[str, Any]) -> str | None:
    value = attributes.get(attrs.KIND) or attributes.get(LOG_TYPE)
    return value if isinstance(value, str) and value else None
