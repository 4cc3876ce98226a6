"""Never-raising, bounded conversion of Python values to JSON (stub)."""

from __future__ import annotations

import json
from typing import Final, Union

from respan_otel._redact import REDACTED, Redactor

JSONValue = Union[None, bool, int, float, str, list["JSONValue"], dict[str, "JSONValue"]]

TRUNCATED_KEY: Final = "_truncated"
DEFAULT_MAX_BYTES: Final = 128 * 1024
DEFAULT_MAX_DEPTH: Final = 20


def to_jsonable(
    value: object, *, redactor: Redactor | None = None, max_depth: int = DEFAULT_MAX_DEPTH
) -> JSONValue:
    """Convert ``value`` to plain JSON types."""
    if isinstance(value, dict):
        return {
            str(k): REDACTED
            if redactor is not None and redactor.matches(str(k))
            else to_jsonable(v, redactor=redactor, max_depth=max_depth - 1)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v, redactor=redactor, max_depth=max_depth - 1) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def dumps(
    value: object, *, max_bytes: int = DEFAULT_MAX_BYTES, redactor: Redactor | None = None
) -> str:
    """Serialize ``value`` to a JSON string of at most ``max_bytes`` UTF-8 bytes."""
    return json.dumps(to_jsonable(value, redactor=redactor), ensure_ascii=False)
