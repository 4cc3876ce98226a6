"""Evaluation of Respan filters against stored JSON documents.

Each stored record is one JSON document (the API's read shape) in SQLite. A filter on
``field`` (or ``a__b__c`` for nested keys, e.g. ``metadata__user_id``) becomes
``respan_match(op, values, json_type(doc, path), json_extract(doc, path))``: SQLite's JSON1
finds the value, and :func:`match` (registered as an SQL function) decides, so every
operator behaves the same on every field, top-level or nested.

Semantics:

* a ``value`` list matches when *any* value matches; each negated operator (``not``,
  ``not_in``, ``not_contains``, ...) is the exact complement of its positive form, so it
  also matches records where the field is missing;
* equality is JSON equality, except that numbers and numeric strings compare equal;
* text operators look at strings as they are, and at other values as their compact JSON
  text (so ``contains`` on ``input`` searches the input's JSON);
* ``lt``/``gt`` compare numbers numerically and strings as text; dates are stored as UTC
  ``...Z`` strings and date filter values are converted to that form first.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping
from typing import Final

from respan_otel.client._filters import Filters, normalize_filters
from respan_otel.local._common import ApiError, dumps, parse_time
from respan_otel.local._regex import compile_regex, regex_search, spend_budget

SQL_FUNCTION: Final = "respan_match"

DATETIME_FIELDS: Final = frozenset(
    {"timestamp", "start_time", "created_at", "updated_at", "started_at", "completed_at"}
)

_MISSING: Final = object()
_FIELD_SEGMENT: Final = re.compile(r'^[^"\\\x00-\x1f]+$')
_SORT_RE: Final = re.compile(r"^-?[A-Za-z0-9_]+$")

Predicate = Callable[[object], bool]


def json_path(field: str) -> str:
    """The SQLite JSON path of a filter or sort field (``a__b`` -> ``$."a"."b"``).

    Raises:
        ApiError: 400 for names SQLite paths cannot express.
    """
    segments = field.split("__")
    if not all(_FIELD_SEGMENT.match(segment) for segment in segments):
        raise ApiError(400, f"unsupported field name {field!r}")
    return "$" + "".join(f'."{segment}"' for segment in segments)


def sort_path(sort_by: str) -> tuple[str, bool]:
    """``(json path, descending)`` for a ``sort_by`` value such as ``-timestamp``."""
    if not _SORT_RE.match(sort_by) or sort_by.strip("-") == "":
        raise ApiError(400, f"Invalid sort_by: {sort_by!r}")
    descending = sort_by.startswith("-")
    return json_path(sort_by.lstrip("-")), descending


def _native(jtype: str | None, raw: object) -> object:
    if jtype is None:
        return _MISSING
    if jtype == "null":
        return None
    if jtype == "true":
        return True
    if jtype == "false":
        return False
    if jtype in ("object", "array") and isinstance(raw, str):
        return json.loads(raw)
    return raw


def _text(value: object) -> str | None:
    """The text that text operators look at; ``None`` for missing and null."""
    if value is _MISSING or value is None:
        return None
    if isinstance(value, str):
        return value
    return dumps(value)


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _equal(stored: object, wanted: object) -> bool:
    if stored is _MISSING:
        return wanted is None
    if isinstance(stored, bool) or isinstance(wanted, bool):
        return isinstance(stored, bool) and isinstance(wanted, bool) and stored == wanted
    if isinstance(stored, int | float) or isinstance(wanted, int | float):
        if stored is None or wanted is None:
            return False
        left, right = _number(stored), _number(wanted)
        return left is not None and right is not None and left == right
    return type(stored) is type(wanted) and stored == wanted


def _ordered(left: float | str, right: float | str, op: str) -> bool:
    if isinstance(left, str) != isinstance(right, str):
        return False
    if op == "lt":
        return left < right  # type: ignore[operator]
    if op == "lte":
        return left <= right  # type: ignore[operator]
    if op == "gt":
        return left > right  # type: ignore[operator]
    return left >= right  # type: ignore[operator]


def _compare(stored: object, wanted: object, op: str) -> bool:
    if isinstance(stored, str) and isinstance(wanted, str):
        return _ordered(stored, wanted, op)
    left, right = _number(stored), _number(wanted)
    if left is None or right is None:
        return False
    return _ordered(left, right, op)


def _is_empty(stored: object) -> bool:
    return stored is _MISSING or stored is None or stored in ("", [], {})


def _like(pattern: str, text: str) -> bool:
    """SQL ``LIKE`` (``%`` any run, ``_`` one character), case-insensitive, in O(n*m)
    steps at worst: no backtracking regex, so no pattern can stall the server."""
    pattern, text = pattern.casefold(), text.casefold()
    p = t = 0
    star, mark = -1, 0
    steps = 0
    while t < len(text):
        steps += 1
        if steps % 4096 == 0:
            spend_budget()
        if p < len(pattern) and pattern[p] in ("_", text[t]) and pattern[p] != "%":
            p, t = p + 1, t + 1
        elif p < len(pattern) and pattern[p] == "%":
            star, mark = p, t
            p += 1
        elif star >= 0:
            p, mark = star + 1, mark + 1
            t = mark
        else:
            return False
    return all(char == "%" for char in pattern[p:])


def _text_predicate(op: str, values: list[object]) -> Predicate:
    needles = [value if isinstance(value, str) else dumps(value) for value in values]
    folded = [needle.casefold() for needle in needles]

    def check(stored: object) -> bool:
        text = _text(stored)
        if text is None:
            return False
        if op == "iexact":
            return text.casefold() in folded
        if op == "icontains":
            low = text.casefold()
            return any(needle in low for needle in folded)
        if op == "contains":
            return any(needle in text for needle in needles)
        if op == "startswith":
            return any(text.startswith(needle) for needle in needles)
        return any(text.endswith(needle) for needle in needles)

    return check


def _positive(op: str, values: list[object]) -> Predicate:
    if op in ("", "in"):
        return lambda stored: any(_equal(stored, value) for value in values)
    if op in ("lt", "lte", "gt", "gte"):
        return lambda stored: any(_compare(stored, value, op) for value in values)
    if op in ("iexact", "contains", "icontains", "startswith", "endswith"):
        return _text_predicate(op, values)
    if op == "isnull":
        return lambda stored: any((stored is _MISSING or stored is None) is v for v in values)
    if op == "empty":
        return _is_empty
    if op == "has_key":
        return lambda stored: isinstance(stored, dict) and any(v in stored for v in values)
    if op == "overlap":

        def overlaps(stored: object) -> bool:
            items = stored if isinstance(stored, list) else [stored]
            return any(_equal(item, value) for item in items for value in values)

        return overlaps
    if op in ("regex", "ilike"):
        patterns = [str(v) for v in values]
        compiled = [compile_regex(p) for p in patterns] if op == "regex" else []

        def search(stored: object) -> bool:
            text = _text(stored)
            if text is None:
                return False
            if op == "regex":
                return any(regex_search(p, text) for p in compiled)
            return any(_like(p, text) for p in patterns)

        return search
    raise ValueError(f"unsupported operator {op!r}")


_NEGATIONS: Final[Mapping[str, str]] = {
    "not": "",
    "not_in": "in",
    "not_contains": "contains",
    "not_startswith": "startswith",
    "not_endswith": "endswith",
    "not_empty": "empty",
    "not_overlap": "overlap",
}


@functools.lru_cache(maxsize=256)
def _predicate(op: str, values_json: str) -> Predicate:
    values = json.loads(values_json)
    if op in _NEGATIONS:
        positive = _positive(_NEGATIONS[op], values)
        return lambda stored: not positive(stored)
    return _positive(op, values)


def match(op: str, values_json: str, jtype: str | None, raw: object) -> int:
    """The SQL function: 1 when the stored value satisfies the filter, else 0."""
    return int(_predicate(op, values_json)(_native(jtype, raw)))


def compile_filters(filters: object) -> tuple[Filters, str, list[object]]:
    """Validate API filters and turn them into an SQL condition on the ``doc`` column.

    Returns ``(normalised filters, SQL condition, parameters)``; the condition is ``1`` when
    there are no filters.

    Raises:
        ApiError: 400 naming the field and operator of an invalid filter.
    """
    if filters is not None and not isinstance(filters, Mapping):
        raise ApiError(400, "Invalid filters: 'filters' must be an object")
    try:
        normalized = normalize_filters(filters)
    except ValueError as exc:
        raise ApiError(400, f"Invalid filters: {exc}") from None
    clauses: list[str] = []
    params: list[object] = []
    for field, spec in normalized.items():
        unsupported = sorted(k for k in spec if k not in ("operator", "value", "connector"))
        connector = spec.get("connector", "AND")
        if unsupported or not (isinstance(connector, str) and connector.upper() == "AND"):
            raise ApiError(
                400,
                f"Invalid filters: {field!r} uses {', '.join(unsupported) or 'an OR connector'}, "
                "which the local server does not support",
            )
        op = str(spec["operator"])
        raw_values = spec["value"]
        values = list(raw_values) if isinstance(raw_values, list) else [raw_values]
        if field.split("__")[-1] in DATETIME_FIELDS:
            values = [parse_time(v) or v if isinstance(v, str) else v for v in values]
        if op == "regex":
            for pattern in values:
                try:
                    compile_regex(str(pattern))
                except ValueError as exc:
                    raise ApiError(400, f"Invalid filters: {field!r}: {exc}") from None
        try:
            path = json_path(field)
        except ApiError as exc:
            raise ApiError(400, f"Invalid filters: {exc.detail}") from None
        clauses.append(f"{SQL_FUNCTION}(?, ?, json_type(doc, ?), json_extract(doc, ?))")
        params.extend([op, dumps(values), path, path])
    return normalized, " AND ".join(clauses) or "1", params
