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


_METADATA_CACHE: dict[str, dict[str, Any]] = {}
MAX_CACHED_METADATA: Final = 256
"""Distinct metadata texts remembered: ``@trace(metadata=...)`` repeats the same few."""
_SCALARS: Final = (str, int, float, bool, type(None))


def own_metadata(attributes: Mapping[str, Any]) -> Any:
    """:func:`own_json` of our metadata, parsed once per distinct text. The caller only
    reads the result (copies its items); only flat dicts are kept, so nothing shared
    can be changed through a row."""
    raw = attributes.get(attrs.METADATA)
    if not isinstance(raw, str) or len(raw) > 1024:
        return own_json(attributes, attrs.METADATA)
    found = _METADATA_CACHE.get(raw)
    if found is not None:
        return found
    parsed = own_json(attributes, attrs.METADATA)
    if isinstance(parsed, dict) and all(isinstance(v, _SCALARS) for v in parsed.values()):
        if len(_METADATA_CACHE) >= MAX_CACHED_METADATA:
            _METADATA_CACHE.clear()
        _METADATA_CACHE[raw] = parsed
    return parsed


def is_own(attributes: Mapping[str, Any]) -> bool:
    """Made by ``@trace``/``span()`` (or respan-tracing): a step the user chose to record."""
    return attrs.KIND in attributes or LOG_TYPE in attributes


def kind(attributes: Mapping[str, Any]) -> str | None:
    value = attributes.get(attrs.KIND) or attributes.get(LOG_TYPE)
    return value if isinstance(value, str) and value else None
