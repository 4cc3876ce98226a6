"""The Respan filter syntax, validated and put in one canonical form.

Respan list, import and summary endpoints take filters as
``{"<field>": {"operator": "<op>", "value": [...]}}``; several fields AND together.
Both :class:`respan_otel.RespanClient` (to fail fast, before a request is sent) and the
local server (to evaluate them) go through :func:`normalize_filters`, so the two agree on
which operators exist, which aliases they accept and what a valid value is.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping
from typing import Final

OPERATORS: Final[frozenset[str]] = frozenset(
    {
        # documented operators
        "",
        "iexact",
        "lt",
        "lte",
        "gt",
        "gte",
        "contains",
        "icontains",
        "startswith",
        "endswith",
        "in",
        "isnull",
        "not",
        # extras of the platform's filter engine
        "not_in",
        "not_contains",
        "not_startswith",
        "not_endswith",
        "regex",
        "ilike",
        "empty",
        "not_empty",
        "has_key",
        "overlap",
        "not_overlap",
    }
)
"""Canonical operator names. ``""`` means *equals*."""

ALIASES: Final[Mapping[str, str]] = {
    "=": "",
    "==": "",
    "eq": "",
    "equals": "",
    "notEmpty": "not_empty",
}
"""Alternative spellings the platform accepts, mapped to their canonical operator."""

Filters = dict[str, dict[str, object]]
"""Normalised filters: field -> ``{"operator": <canonical>, "value": [<values>], ...}``."""

METADATA_PREFIX: Final = "metadata__"
_LEGACY_METADATA_PREFIX: Final = "metadata."

_NO_VALUE_OPERATORS: Final = frozenset({"empty", "not_empty"})
_LIST_OPERATORS: Final = frozenset({"in", "not_in", "overlap", "not_overlap"})
_ORDER_OPERATORS: Final = frozenset({"lt", "lte", "gt", "gte"})
_TEXT_OPERATORS: Final = frozenset(
    {
        "iexact",
        "contains",
        "icontains",
        "startswith",
        "endswith",
        "not_contains",
        "not_startswith",
        "not_endswith",
    }
)
_PATTERN_OPERATORS: Final = frozenset({"regex", "ilike", "has_key"})


def _accepted() -> str:
    ops = ", ".join("'' (equals)" if op == "" else op for op in sorted(OPERATORS))
    aliases = ", ".join(f"{alias} -> {canon or repr('')}" for alias, canon in ALIASES.items())
    return f"accepted operators: {ops}; aliases: {aliases}"


def _canonical_field(field: object) -> str:
    if not isinstance(field, str) or not field:
        raise ValueError(f"filter field names must be non-empty strings, got {field!r}")
    if field.startswith(_LEGACY_METADATA_PREFIX):
        field = METADATA_PREFIX + field[len(_LEGACY_METADATA_PREFIX) :]
    if field == METADATA_PREFIX:
        raise ValueError(f"filter field {field!r} names no metadata key (use metadata__<key>)")
    return field


def _json_value(value: object, field: str, op: str) -> object:
    """Check that ``value`` is plain JSON; dates become ISO 8601 strings."""
    if isinstance(value, _dt.datetime | _dt.date):
        return value.isoformat()
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"filter {field!r} (operator {op!r}): {value!r} is not a JSON number")
        return value
    if isinstance(value, list | tuple):
        return [_json_value(item, field, op) for item in value]
    if isinstance(value, Mapping):
        out: dict[str, object] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"filter {field!r} (operator {op!r}): object keys must be strings")
            out[key] = _json_value(item, field, op)
        return out
    raise ValueError(
        f"filter {field!r} (operator {op!r}): value of type {type(value).__name__} is not JSON"
    )


def _check_values(field: str, op: str, shown_op: str, values: list[object]) -> None:
    def fail(what: str) -> ValueError:
        return ValueError(f"filter {field!r} (operator {shown_op!r}): {what}, got {values!r}")

    if op in _NO_VALUE_OPERATORS:
        return
    if not values and op not in _LIST_OPERATORS:
        raise fail("needs at least one value")
    if op == "isnull":
        if not all(isinstance(v, bool) for v in values):
            raise fail("value must be true or false")
    elif op in _ORDER_OPERATORS:
        if not all(isinstance(v, int | float | str) and not isinstance(v, bool) for v in values):
            raise fail("values must be numbers or strings")
    elif op in _TEXT_OPERATORS:
        if not all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in values):
            raise fail("values must be strings or numbers")
    elif op in _PATTERN_OPERATORS:
        if not all(isinstance(v, str) for v in values):
            raise fail("values must be strings")
    elif op in _LIST_OPERATORS and not all(not isinstance(v, dict | list) for v in values):
        raise fail("values must be scalars (strings, numbers, booleans or null)")


def normalize_filters(filters: Mapping[str, object] | None) -> Filters:
    """Validate ``filters`` and return them in canonical form.

    Operators are canonicalised (``"eq"`` -> ``""``, ``"notEmpty"`` -> ``"not_empty"``), a
    scalar ``value`` becomes a one-item list, ``metadata.<key>`` becomes ``metadata__<key>``
    and dates become ISO strings. Keys other than ``operator`` and ``value`` (such as
    ``connector``) are kept as given. The input is not modified.

    Raises:
        ValueError: naming the offending field and operator, for a malformed filter.
    """
    if filters is None:
        return {}
    if not isinstance(filters, Mapping):
        raise ValueError(
            "filters must be an object mapping field names to "
            f'{{"operator": ..., "value": [...]}}, got {type(filters).__name__}'
        )
    out: Filters = {}
    for raw_field, spec in filters.items():
        field = _canonical_field(raw_field)
        if field in out:
            raise ValueError(f"filter field {field!r} is given twice ({raw_field!r})")
        if not isinstance(spec, Mapping):
            raise ValueError(
                f'filter {field!r} must be an object like {{"operator": "", "value": [...]}}, '
                f"got {spec!r}"
            )
        raw_op = spec.get("operator", "")
        if raw_op is None:
            raw_op = ""
        if not isinstance(raw_op, str):
            raise ValueError(
                f"filter {field!r}: operator must be a string, got {raw_op!r}; {_accepted()}"
            )
        op = ALIASES.get(raw_op, raw_op)
        if op not in OPERATORS:
            raise ValueError(f"filter {field!r}: unknown operator {raw_op!r}; {_accepted()}")
        if "value" not in spec and op not in _NO_VALUE_OPERATORS:
            raise ValueError(f"filter {field!r} (operator {raw_op!r}) has no 'value'")
        raw_value = spec.get("value", [])
        value = _json_value(raw_value, field, raw_op)
        values = value if isinstance(value, list) else [value]
        _check_values(field, op, raw_op, values)
        normalized: dict[str, object] = {
            key: item for key, item in spec.items() if key not in ("operator", "value")
        }
        normalized["operator"] = op
        normalized["value"] = values
        out[field] = normalized
    return out


__all__ = ["ALIASES", "METADATA_PREFIX", "OPERATORS", "Filters", "normalize_filters"]
