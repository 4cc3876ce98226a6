"""Making a converted tree fit a byte cap: cut long strings to one common length, then
containers to one common width, else a preview of the head of the JSON."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, Final

from respan_otel._serialize._markers import (
    ATOMS,
    PREVIEW_KEY,
    TRUNCATED_KEY,
    Count,
    CutStr,
    ListCut,
    cut_note,
    encode_compact,
    measure,
    note_len,
    quote,
)

_STRING_PROBES: Final = 4
"""Encodings tried for the string cut: the first estimate is close, a few absorb its error."""
_WIDTH_PROBES: Final = 12
"""Encodings tried for the container cut. Each costs one encoding of the (bounded) tree."""


def fit(tree: object, size: int, max_bytes: int) -> str:
    """Shrink a tree whose JSON takes ``size`` bytes to at most ``max_bytes``.

    In order, the first that fits: long strings cut to one common byte limit, as large as
    fits; strings cut to a small floor and containers to one common number of items, as
    large as fits; else ``{"_truncated": true, "preview": ...}``, the head of the JSON.
    Each step tries a bounded number of encodings, so fitting costs a few encodings.
    """
    lengths: list[int] = []
    widest = _collect(tree, lengths)
    floor = max(16, min(64, max_bytes // 16))
    text = None
    if lengths:
        level = _water_level(lengths, size - max_bytes, floor)
        text = _largest_fitting(
            lambda limit: _encode(_shrink(tree, limit, None)),
            low=floor,
            high=max(lengths),
            guess=floor if level is None else level,
            max_bytes=max_bytes,
            probes=_STRING_PROBES,
        )
    if text is None:
        text = _largest_fitting(
            lambda width: _encode(_shrink(tree, floor, width)),
            low=1,
            high=widest - 1,
            guess=widest * max_bytes // size,
            max_bytes=max_bytes,
            probes=_WIDTH_PROBES,
        )
    if text is None:
        text = preview(_encode(_shrink(tree, floor, None))[0], max_bytes)
    return text


def _encode(tree: object) -> tuple[str, int]:
    return measure(encode_compact(tree))


def _largest_fitting(
    render: Callable[[int], tuple[str, int]],
    *,
    low: int,
    high: int,
    guess: int,
    max_bytes: int,
    probes: int,
) -> str | None:
    """The text of the largest ``n`` in ``[low, high]`` whose ``render(n)`` fits, as far as
    ``probes`` renderings find; ``None`` when ``low`` does not fit.

    The size grows with ``n``, roughly in proportion, so each probe scales the last ``n``
    by how far its size was from the cap; the last probe tries ``low`` if nothing fit yet.
    """
    best: str | None = None
    for left in range(probes, 0, -1):
        if low > high:
            break
        n = low if left == 1 and best is None else max(low, min(high, guess))
        text, size = render(n)
        if size <= max_bytes:
            best, low = text, n + 1
            guess = n * max_bytes // max(size, 1)  # grow toward the cap
            if guess < n * 21 // 20:
                break  # within 5 % of the cap: not worth another encoding
        else:
            high = n - 1
            guess = n * max_bytes // size - 1  # shrink past the excess
            if guess < low:
                guess = (low + high + 1) // 2  # below what fits already: halve the range
    return best


def preview(text: str, max_bytes: int) -> str:
    """``{"_truncated": true, "preview": ...}`` holding as much of ``text`` as fits."""
    room = max_bytes - len(encode_compact({TRUNCATED_KEY: True, PREVIEW_KEY: ""}))
    if room <= 0:
        return encode_compact({TRUNCATED_KEY: True})
    head = text[:room]
    while True:
        candidate, size = measure(encode_compact({TRUNCATED_KEY: True, PREVIEW_KEY: head}))
        if size <= max_bytes or not head:
            return candidate
        head = head[: max(0, len(head) - (size - max_bytes))]


def _out_len(text: str) -> int:
    """Bytes ``text`` takes inside a JSON string literal (escapes and UTF-8 included)."""
    quoted = quote(text)
    if quoted.isascii():
        return len(quoted) - 2
    return len(quoted.encode("utf-8", "surrogatepass")) - 2


def _collect(tree: object, lengths: list[int]) -> int:
    """Gather the bytes each string could give up; return the widest container's length.

    ``lengths`` gets, for every string and key long enough to be worth cutting, its size
    in the output minus the cost of a truncation note (a string already cut has paid it).
    """
    widest = 0
    stack = [tree]
    while stack:
        node = stack.pop()
        if type(node) is dict:
            values: Collection[Any] = node.values()
            for key in node:
                if len(key) > _LONG:
                    lengths.append(_out_len(key) - note_len(len(key)))
        elif type(node) is list:
            values = node
        else:
            values = (node,)
        if len(values) > widest:
            widest = len(values)
        for value in values:
            t = type(value)
            if t is str:
                if len(value) > _LONG:
                    lengths.append(_out_len(value) - note_len(len(value)))
            elif t is dict or t is list:
                stack.append(value)
            elif t is CutStr:
                lengths.append(_out_len(value.head))
    return widest


def _water_level(lengths: list[int], excess: int, floor: int) -> int | None:
    """The largest per-string byte limit removing ``excess`` bytes, if one is >= ``floor``."""
    ordered = sorted((n for n in lengths if n > floor), reverse=True)
    total = 0
    for count, length in enumerate(ordered, 1):
        total += length
        level = (total - excess) // count
        if level >= (ordered[count] if count < len(ordered) else floor):
            return level
    return None


def _cut_to(text: str, limit: int, slack: int) -> tuple[str, int] | None:
    """``text`` cut to about ``limit`` output bytes, and the chars dropped.

    ``None`` when its output size is within ``limit + slack`` (cutting would not pay for
    the note). The cut is proportional to the escaped UTF-8 size, so it is exact for
    uniform text and close otherwise; the caller measures the result anyway.
    """
    length = len(text)
    if length * 6 <= limit + slack:
        return None
    size = _out_len(text)
    if size <= limit + slack:
        return None
    keep = length * limit // size
    return text[:keep], length - keep


_LONG: Final = 16
"""Strings and keys up to this many characters are never cut: the note would not pay."""


def _shrink(node: object, limit: int, width: int | None) -> object:
    """A copy of a converted tree, strings cut to ``limit`` bytes, containers to ``width``
    items (``None``: all), each cut container keeping count of what it lost."""
    if type(node) is str:
        cut = _cut_to(node, limit, note_len(len(node)))
        return node if cut is None else CutStr(*cut)
    if type(node) is CutStr:
        cut = _cut_to(node.head, limit, 0)
        return node if cut is None else CutStr(cut[0], node.dropped + cut[1])
    if type(node) is dict:
        pairs = list(node.items())
        marker = node.get(TRUNCATED_KEY)
        dropped: int | None = 0
        if type(marker) is Count:  # cut before: the count goes on
            pairs = [(key, value) for key, value in pairs if key != TRUNCATED_KEY]
            dropped = marker.dropped
        pairs, dropped = _first(pairs, width, dropped)
        out = {_shrink_key(key, limit): _shrink_item(value, limit, width) for key, value in pairs}
        if dropped != 0:
            out[TRUNCATED_KEY] = Count(dropped)
        return out
    if type(node) is list:
        items: list[object] = node
        dropped = 0
        if items and type(items[-1]) is ListCut:  # cut before: the count goes on
            dropped = items[-1].dropped
            items = items[:-1]
        items, dropped = _first(items, width, dropped)
        shrunk = [_shrink_item(value, limit, width) for value in items]
        if dropped != 0:
            shrunk.append(ListCut(dropped))
        return shrunk
    return node


def _first(
    items: list[Any], width: int | None, dropped: int | None
) -> tuple[list[Any], int | None]:
    """The first ``width`` of ``items``, and how many are dropped in all (``None``: unknown)."""
    if width is None or len(items) <= width:
        return items, dropped
    return items[:width], None if dropped is None else dropped + len(items) - width


def _shrink_item(value: object, limit: int, width: int | None) -> object:
    if type(value) in ATOMS or (type(value) is str and len(value) * 4 <= limit + 22):
        return value  # a quick pass over what cannot need cutting
    return _shrink(value, limit, width)


def _shrink_key(key: str, limit: int) -> str:
    cut = _cut_to(key, limit, note_len(len(key))) if len(key) > _LONG else None
    return key if cut is None else cut_note(*cut)
