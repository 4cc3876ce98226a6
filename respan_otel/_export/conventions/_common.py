"""Helpers every convention reader shares: JSON parsing, field caps, first-of lookups,
and the one message shape every convention's messages are turned into (the attribute
reader itself: :mod:`._reader`)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

from respan_otel._settings import capture_settings


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final[Any] = _Missing()
"""Nothing recorded (``None`` and ``""`` are values a span may carry)."""


def _finite_float(text: str) -> float | str:
    """A JSON number as a float, or as its text when it overflows (``1e999``)."""
    value = float(text)
    return value if math.isfinite(value) else text


_DECODER: Final = json.JSONDecoder(parse_constant=str, parse_float=_finite_float)
_JSON_STARTS: Final = frozenset('{["-0123456789tfnNI')
"""First characters of JSON text (``NaN`` and ``Infinity`` included)."""


def parse(raw: str) -> Any:
    """JSON text to native JSON, or ``MISSING`` when it is not JSON (or absurdly deep).

    ``NaN``/``Infinity`` literals and numbers too large for a float stay strings.
    """
    if raw[:1] not in _JSON_STARTS and raw.lstrip()[:1] not in _JSON_STARTS:
        return MISSING  # plain text: skip the decoder's exception
    try:
        return _DECODER.decode(raw)
    except (ValueError, RecursionError):
        return MISSING


def parse_maybe(raw: Any) -> Any:
    """A JSON string parsed when it holds an object or a list; anything else as it is."""
    if isinstance(raw, str) and raw[:1] in ("{", "["):
        parsed = parse(raw)
        return raw if parsed is MISSING else parsed
    return raw


def text(raw: str, limit: int | None = None) -> str:
    """A plain-text value, cut to the field cap with a visible marker."""
    cap = capture_settings().max_field_bytes if limit is None else limit
    if len(raw) <= cap:
        return raw
    return f"{raw[:cap]}...[truncated {len(raw) - cap} chars]"


def first(attributes: Mapping[str, Any], keys: Sequence[str]) -> Any:
    """The first of ``keys`` with a value (not ``None``, not ``""``), else ``None``."""
    for key in keys:
        value = attributes.get(key)
        if value is not None and value != "":
            return value
    return None


def first_present(attributes: Mapping[str, Any], keys: Sequence[str], present: Any) -> Any:
    """:func:`first`, knowing which keys the span has (``present``, a set): a span holding
    none of ``keys`` costs one set check instead of a lookup per key."""
    if present.isdisjoint(keys):
        return None
    return first(attributes, keys)


# -- the one message shape ---------------------------------------------------------------

ROLES: Final[Mapping[str, str]] = {
    "human": "user",
    "ai": "assistant",
    "model": "assistant",
    "function": "tool",
    "developer": "system",
}
"""Other conventions' role names, as chat APIs name them."""


def message(
    role: Any,
    content: Any = MISSING,
    *,
    tool_calls: Sequence[Mapping[str, Any]] = (),
    tool_call_id: Any = None,
    name: Any = None,
) -> dict[str, Any]:
    """``{"role", "content", "tool_calls", "tool_call_id", "name"}``, keys present when known."""
    role_name = str(role).lower() if role is not None else "user"
    out: dict[str, Any] = {"role": ROLES.get(role_name, role_name)}
    if content is not MISSING and content is not None:
        out["content"] = content
    if tool_calls:
        out["tool_calls"] = [tool_call(call) for call in tool_calls]
    if tool_call_id is not None:
        out["tool_call_id"] = str(tool_call_id)
    if name is not None and name != "":
        out["name"] = name
    return out


def tool_call(call: Mapping[str, Any]) -> dict[str, Any]:
    """``{"id", "name", "arguments"}`` from the shapes the conventions use, arguments parsed."""
    function = call.get("function")
    source = function if isinstance(function, dict) else call
    out: dict[str, Any] = {}
    if call.get("id") is not None:
        out["id"] = str(call["id"])
    out["name"] = source.get("name")
    arguments = source.get("arguments", call.get("arguments"))
    if arguments is not None:
        out["arguments"] = parse_maybe(arguments)
    return out


def joined_text(parts: Sequence[Any]) -> Any:
    """Text parts as one string; a list of parts when any is not text."""
    texts = []
    for part in parts:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict) and part.get("type", "text") == "text":
            value = part.get("content", part.get("text"))
            if not isinstance(value, str):
                return list(parts)
            texts.append(value)
        else:
            return list(parts)
    return "".join(texts)


def system_first(
    system: list[dict[str, Any]], messages: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The system instructions as the first message, unless the messages already open so."""
    if not system or (messages and messages[0].get("role") == "system"):
        return messages
    return [*system, *messages]
