"""Containers and records that are not plain dicts and lists: user collections, mappings
and objects read field by field. Every step into user code is charged to the walker's
budgets (``Walker.may_read``) and guarded, so a collection that lies or raises only cuts
its own value short.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, cast

from respan_otel._redact import REDACTED
from respan_otel._serialize._kinds import sorted_if_uniform, type_name
from respan_otel._serialize._markers import CYCLE_MARKER, TRUNCATED_KEY, Count, ListCut

if TYPE_CHECKING:
    from respan_otel._serialize._walker import Walker


def _enter(w: Walker, owner: object, depth: int) -> str | None:
    """Depth and cycle check for a container; a marker, or ``None`` once entered."""
    if depth >= w.depth_limit:
        return w.too_deep(owner)
    ident = id(owner)
    if ident in w.path:
        return CYCLE_MARKER
    w.path.add(ident)
    return None


def _remaining(owner: object, taken: int) -> int | None:
    """How many items of ``owner`` were dropped, ``None`` if its ``len`` is unreliable."""
    try:
        total = len(cast("Sequence[object]", owner))
    except Exception:
        return None
    return total - taken if type(total) is int and total > taken else None


def walk_iterable(
    w: Walker, owner: object, items: Iterable[Any], depth: int, *, sort: bool = False
) -> object:
    """Iterables known not to be consumed by iteration (sequences, sets, views)."""
    marker = _enter(w, owner, depth)
    if marker is not None:
        return marker
    try:
        values: list[Any] = []
        cut = False
        try:
            room = w.nodes_left
            for value in items:
                if len(values) >= room or (len(values) & 63 == 63 and not w.may_read()):
                    cut = True  # the item count, or user code's reads or time, ran out
                    break
                values.append(value)
        except Exception:
            cut = True
        if sort and not cut:
            values = sorted_if_uniform(values)
        out: list[object] = []
        deeper = depth + 1
        for value in values:
            w.nodes_left -= 1
            out.append(w.walk(value, deeper))
            if w.nodes_left <= 0 and len(out) < len(values):
                cut = True
                break
        if cut:
            w.cut = True
            out.append(ListCut(_remaining(owner, len(out))))
        return out
    finally:
        w.path.discard(id(owner))


def walk_pairs(
    w: Walker,
    owner: object,
    pairs: Iterable[tuple[Any, Any]],
    depth: int,
    *,
    public_only: bool = False,
) -> object:
    """A mapping-like object: pairs are read one at a time and every read is guarded."""
    marker = _enter(w, owner, depth)
    if marker is not None:
        return marker
    try:
        out: dict[str, object] = {}
        matches = w.redactor.matches if w.redactor is not None else None
        deeper = depth + 1
        taken = 0
        try:
            for key, value in pairs:
                if public_only and (type(key) is not str or key.startswith("_")):
                    continue
                if w.nodes_left <= 0 or (taken & 63 == 63 and not w.may_read()):
                    w.cut = True
                    dropped = None if public_only else _remaining(owner, taken)
                    out[TRUNCATED_KEY] = Count(dropped)
                    break
                w.nodes_left -= 1
                taken += 1
                name = w.key(key)
                if matches is not None and matches(name):
                    out[name] = REDACTED
                else:
                    out[name] = w.walk(value, deeper)
        except Exception:
            w.cut = True
            out[TRUNCATED_KEY] = Count(None)
        return out
    finally:
        w.path.discard(id(owner))


def walk_fields(
    w: Walker, owner: object, names: list[str], depth: int, extra: object = None
) -> object:
    """A record: each named attribute is read with ``getattr`` and every read guarded."""
    marker = _enter(w, owner, depth)
    if marker is not None:
        return marker
    try:
        out: dict[str, object] = {}
        matches = w.redactor.matches if w.redactor is not None else None
        deeper = depth + 1
        for index, name in enumerate(names):
            if w.nodes_left <= 0:
                w.cut = True
                out[TRUNCATED_KEY] = Count(len(names) - index)
                break
            w.nodes_left -= 1
            if matches is not None and matches(name):
                out[name] = REDACTED
                continue
            if not w.may_read():
                out[TRUNCATED_KEY] = Count(len(names) - index)
                break
            try:
                value = getattr(owner, name)
            except Exception as exc:
                out[name] = f"<unreadable: {type_name(exc)}>"
                continue
            out[name] = w.walk(value, deeper)
        if isinstance(extra, dict) and extra and TRUNCATED_KEY not in out:
            more = walk_pairs(w, extra, list(extra.items()), depth)
            if isinstance(more, dict):
                for key, value in more.items():
                    out.setdefault(key, value)
        return out
    finally:
        w.path.discard(id(owner))
