"""Never-raising, bounded conversion of arbitrary Python values to JSON.

:func:`to_jsonable` and :func:`dumps` accept any object and never raise (only
``KeyboardInterrupt``, ``SystemExit`` and other non-``Exception`` errors propagate). Each
call does bounded work: values visited, characters kept, calls into user code and time
(see ``_walker.Walker``). What each type becomes and the markers left where a value was
cut are listed in ``docs/conventions.md`` ("How values are recorded").

Layout: ``_fast`` encodes plain data that fits as it stands; otherwise ``_walker`` walks
the value (dicts and lists on fast paths), ``_convert`` handles every other object by its
type, ``_records`` reads user collections and objects field by field, ``_kinds`` decides
what a type is, ``_fit`` cuts the tree to the byte cap and ``_markers`` holds the cut
marks and the encoder.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Final

from respan_otel._log import logger
from respan_otel._redact import Redactor
from respan_otel._serialize._fast import NotPlainError, PlainScan, plain_json
from respan_otel._serialize._fit import fit
from respan_otel._serialize._kinds import type_name
from respan_otel._serialize._markers import (
    BASE64_KEY,
    BUDGET_MARKER,
    CYCLE_MARKER,
    PREVIEW_KEY,
    TRUNCATED_KEY,
    JSONValue,
    cast_json,
    encode_compact,
    finalize,
    measure,
)
from respan_otel._serialize._walker import (
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_READS,
    DEFAULT_MAX_SECONDS,
    Walker,
)
from respan_otel._settings import DEFAULT_MAX_FIELD_BYTES

__all__ = [
    "BASE64_KEY",
    "BUDGET_MARKER",
    "CYCLE_MARKER",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_NODES",
    "DEFAULT_MAX_READS",
    "DEFAULT_MAX_SECONDS",
    "DEFAULT_MAX_STRING",
    "PREVIEW_KEY",
    "TRUNCATED_KEY",
    "JSONValue",
    "PlainList",
    "dumps",
    "to_jsonable",
]

DEFAULT_MAX_BYTES: Final = DEFAULT_MAX_FIELD_BYTES
DEFAULT_MAX_NODES: Final = DEFAULT_MAX_BYTES // 8
"""Values :func:`to_jsonable` visits at most per call (as many as :func:`dumps` at its
default cap); containers beyond it are cut."""
DEFAULT_MAX_STRING: Final = DEFAULT_MAX_BYTES
"""Characters :func:`to_jsonable` keeps of one string."""


def to_jsonable(
    value: object, *, redactor: Redactor | None = None, max_depth: int = DEFAULT_MAX_DEPTH
) -> JSONValue:
    """Convert ``value`` to a fresh tree of plain JSON types; never raises.

    Strings keep at most :data:`DEFAULT_MAX_STRING` characters and at most
    :data:`DEFAULT_MAX_NODES` values are visited; ``max_depth`` is the number of nested
    container levels kept (at most 100).
    """
    try:
        walker = Walker(redactor, max_depth, DEFAULT_MAX_STRING, DEFAULT_MAX_NODES)
        tree = walker.run(value)
        return finalize(tree) if walker.cut else cast_json(tree)
    except Exception:
        logger.debug("respan_otel: could not convert a %s", type_name(value), exc_info=True)
        return f"<unserializable {type_name(value)[:50]}>"


@lru_cache(maxsize=16)  # twice per traced call, with one or two max_bytes per process
def _node_budget(max_bytes: int) -> int:
    # a value takes at least 2 bytes of output ("1,"), a key-value pair 6 ('"k":1,'):
    # visiting more than max_bytes // 8 values mostly produces work the cap throws away
    return max(1_024, min(max_bytes // 8, 131_072))


def dumps(
    value: object,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    redactor: Redactor | None = None,
    max_reads: int = DEFAULT_MAX_READS,
    max_seconds: float = DEFAULT_MAX_SECONDS,
) -> str:
    """Serialize ``value`` to compact JSON of at most ``max_bytes`` UTF-8 bytes; never raises.

    The cap holds whenever ``max_bytes`` is at least ``_settings.MIN_FIELD_BYTES``. A value
    that does not fit has its long strings cut first, then its containers, each with a
    marker; when even that fails the result is ``{"_truncated": true, "preview": ...}``.
    At most ``max_reads`` calls into user code and about ``max_seconds`` are spent reading
    objects; what is left unread becomes :data:`BUDGET_MARKER`.
    """
    try:
        if redactor is not None and not redactor.keys:
            redactor = None
        budget = _node_budget(max_bytes)
        text = plain_json(value, max_bytes, budget - 1, redactor)  # the root counts as one
        if text is not None:
            return text
        walker = Walker(
            redactor,
            DEFAULT_MAX_DEPTH,
            max_bytes,
            budget,
            max_reads=max_reads,
            max_seconds=max_seconds,
        )
        tree = walker.run(value)
        if walker.spent:
            _report_spent(value)
        text, size = measure(encode_compact(tree))
        return text if size <= max_bytes else fit(tree, size, max_bytes)
    except Exception:
        logger.debug("respan_otel: could not serialize a %s", type_name(value), exc_info=True)
        return encode_compact(f"<unserializable {type_name(value)[:50]}>")


class PlainList:
    """A JSON list built an item at a time, as :func:`dumps` would write it, when its items
    are plain data: each is kept as a snapshot when added, all are encoded at the end."""

    __slots__ = ("items", "max_bytes", "scan")

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.items: list[Any] = []
        self.scan = PlainScan(_node_budget(max_bytes) - 1, max_bytes)  # the list is one

    def add(self, item: object) -> bool:
        """Keep a snapshot of ``item``; ``False`` (nothing kept) when it is not plain data
        or the list would exceed the budgets of the fast path."""
        try:
            self.items.append(self.scan.take(item, 1))
        except NotPlainError:
            return False
        return True

    def json(self, redactor: Redactor | None) -> str | None:
        """What ``dumps(items)`` writes, or ``None`` when that would not be the list as is."""
        if redactor is not None and not redactor.keys:
            redactor = None
        return self.scan.encode(self.items, self.max_bytes, redactor)


_reported_types: set[str] = set()


def _report_spent(value: object) -> None:
    """Say once per type that a value was recorded only in part, and what to do about it."""
    name = type_name(value)
    if name in _reported_types or len(_reported_types) >= 256:
        return
    _reported_types.add(name)
    logger.warning(
        "respan_otel: reading a %s for a span took more than its budget (%d reads of object "
        "attributes or %.1f s), so part of it was recorded as %r. To record it whole, give "
        "@trace a process_input/process_output hook that returns plain data (dicts, lists, "
        "strings), or pass the data itself instead of the object holding it.",
        name,
        DEFAULT_MAX_READS,
        DEFAULT_MAX_SECONDS,
        BUDGET_MARKER,
    )
