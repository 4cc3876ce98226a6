"""Our own ``respan.*`` attributes (``@trace``/``span()``), and respan-tracing's names.

Our attributes were redacted and bounded when they were recorded: they are read as is.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
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


def _strict_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("not a finite number")  # 1e999: JSON a strict reader refuses
    return value


def _refuse(text: str) -> Any:
    raise ValueError(f"{text} is not JSON")


_STRICT_SCAN: Final[Callable[[str, int], tuple[Any, int]]] = json.JSONDecoder(
    parse_constant=_refuse, parse_float=_strict_float
).scan_once  # type: ignore[attr-defined]  # the C scanner, set by __init__, untyped
"""Reads one JSON value from an index (the decoder's C scanner, without its wrapper)."""
_SURROGATE_ESCAPE: Final = re.compile(r"\\u[dD][89a-fA-F]")
"""A ``\\uD800``-style escape: valid JSON text many readers refuse (a lone surrogate)."""


class OwnJSON:
    """One of our own JSON attributes (``respan.input``/``respan.output``), kept as the
    text our serializer wrote: the encoder writes it into the request body as is (no
    parse, no re-encode); :meth:`value` parses it for whatever needs the data."""

    __slots__ = ("_value", "raw")

    def __init__(self, raw: str) -> None:
        self.raw = raw
        self._value: Any = MISSING

    def value(self) -> Any:
        """The data, as :func:`own_json` reads it (text that is not JSON stays text)."""
        if self._value is MISSING:
            parsed = parse(self.raw)
            self._value = text(self.raw) if parsed is MISSING else parsed
        return self._value

    def spliceable(self) -> str | None:
        """The text, when it is strict JSON a request can carry as is; else ``None``
        (set by hand to something else, or cut by an attribute length limit)."""
        raw = self.raw
        try:
            _, end = _STRICT_SCAN(raw, 0)
        except (StopIteration, ValueError, RecursionError):
            return None
        if end != len(raw) or ("\\u" in raw and _SURROGATE_ESCAPE.search(raw)):
            return None
        return raw

    def mentions(self, word: str) -> bool:
        """Whether the parsed data may hold ``word`` (as a key or a string): ``False`` is
        certain, so the caller can skip parsing."""
        return f'"{word}"' in self.raw or "\\u" in self.raw

    def __repr__(self) -> str:
        return f"OwnJSON({self.raw[:40]!r})"


def own_content(attributes: Mapping[str, Any], key: str, *, splice: bool) -> Any:
    """:func:`own_json`, or with ``splice`` an :class:`OwnJSON` for an object or a list."""
    raw = attributes.get(key)
    if splice and isinstance(raw, str) and raw[:1] in ("{", "["):
        return OwnJSON(raw)
    return own_json(attributes, key)


def native(value: Any) -> Any:
    """The data of a value that may be an :class:`OwnJSON`."""
    return value.value() if type(value) is OwnJSON else value


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
