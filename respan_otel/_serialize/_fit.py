"""Making a converted tree fit a byte cap: cut long strings to one common length, then
containers to one common width, else a preview of the head of the JSON."""

from __future__ import annotations

from collections.abc import Collection
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

_MAX_ROUNDS: Final = 4
"""Re-measures of the string cut: estimates are close, a few rounds absorb the error."""
_MAX_PROBES: Final = 12
"""Container widths tried: a search bounded like the rounds, so fitting costs a few encodes."""


def fit(tree: object, size: int, max_bytes: int) -> str:
    """Shrink an oversized tree: cut long strings, then containers, else give a preview.

    Strings are cut to one common byte limit, the largest that removes the excess
    (water-filling over the string sizes), re-measured a few times to absorb estimate
    errors. If strings alone cannot make it fit, they are cut to a small floor and the
    number of items kept per container is searched, extrapolating from each measured
    size. Every round re-encodes a copy of ``tree`` (bounded by the node budget) and the
    number of rounds is capped, so the cost is a small multiple of one encoding.
    """
    lengths: list[int] = []
    widest = _collect(tree, lengths)
    floor = max(16, min(64, max_bytes // 16))
    excess = size - max_bytes
    for _ in range(_MAX_ROUNDS):
        level = _water_level(lengths, excess, floor)
        if level is None:
            break
        text, attempt = measure(encode_compact(_shrink(tree, level, None)))
        if attempt <= max_bytes:
            return text
        excess += attempt - max_bytes
    text = ""
    attempt = size - sum(n - floor for n in lengths if n > floor)
    if attempt < size and attempt <= max_bytes * 1.1:
        text, attempt = measure(encode_compact(_shrink(tree, floor, None)))
        if attempt <= max_bytes:
            return text
    best: str | None = None
    low, high = 0, widest
    guess = int(widest * max_bytes / attempt * 0.95)
    for _ in range(_MAX_PROBES):
        guess = max(low + 1, min(high - 1, guess))
        if guess >= high or (low and guess <= low * 1.05):
            break
        candidate, attempt = measure(encode_compact(_shrink(tree, floor, guess)))
        if attempt <= max_bytes:
            low, best = guess, candidate
            guess = int(guess * max_bytes / attempt * 0.98)
        else:
            high, text = guess, candidate
            guess = int(guess * max_bytes / attempt * 0.9)
            if low and guess <= low:
                guess = (low + high) // 2
    if best is not None:
        return best
    if not text:
        text, _ = measure(encode_compact(_shrink(tree, floor, None)))
    return preview(text, max_bytes)


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
                if len(key) > 16:
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
                if len(value) > 16:
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


def _shrink(node: object, limit: int, width: int | None) -> object:
    """A copy of a converted tree, strings cut to ``limit`` bytes, containers to ``width``."""
    if type(node) is str:
        cut = _cut_to(node, limit, note_len(len(node)))
        return node if cut is None else CutStr(*cut)
    if type(node) is CutStr:
        cut = _cut_to(node.head, limit, 0)
        return node if cut is None else CutStr(cut[0], node.dropped + cut[1])
    if type(node) is dict:
        pairs = list(node.items())
        dropped: int | None = 0
        marker = node.get(TRUNCATED_KEY)
        if type(marker) is Count:
            dropped = marker.dropped
            pairs = [(k, v) for k, v in pairs if k != TRUNCATED_KEY]
        if width is not None and len(pairs) > width:
            dropped = None if dropped is None else dropped + len(pairs) - width
            pairs = pairs[:width]
        out: dict[str, object] = {}
        keep = limit + 22
        for key, value in pairs:
            if len(key) > 16:
                cut_key = _cut_to(key, limit, note_len(len(key)))
                if cut_key is not None:
                    key = cut_note(*cut_key)
            t = type(value)
            if t in ATOMS or (t is str and len(value) * 4 <= keep):
                out[key] = value
            else:
                out[key] = _shrink(value, limit, width)
        if dropped != 0:
            out[TRUNCATED_KEY] = Count(dropped)
        return out
    if type(node) is list:
        items: list[object] = node
        tail: int | None = 0
        if items and type(items[-1]) is ListCut:
            tail = items[-1].dropped
            items = items[:-1]
        if width is not None and len(items) > width:
            tail = None if tail is None else tail + len(items) - width
            items = items[:width]
        keep = limit + 22
        shrunk = [
            value
            if type(value) in ATOMS or (type(value) is str and len(value) * 4 <= keep)
            else _shrink(value, limit, width)
            for value in items
        ]
        if tail != 0:
            shrunk.append(ListCut(tail))
        return shrunk
    return node
