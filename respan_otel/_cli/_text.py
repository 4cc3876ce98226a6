"""Terminal text for the CLI's reading commands: tables that stay aligned with CJK and
emoji, a progress bar on stderr, and a trace drawn as a tree with timing bars."""

from __future__ import annotations

import json
import sys
import time
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, TextIO

from respan_otel import _tracetree as tracetree

EXIT_OK: Final = 0
EXIT_API_ERROR: Final = 1
EXIT_USAGE: Final = 2
EXIT_INTERRUPTED: Final = 130

CELL_WIDTH: Final = 40
"""Widest a table cell gets, in terminal columns."""
BAR_WIDTH: Final = 32
_ZERO_WIDTH: Final = frozenset({"\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"})


class UsageError(Exception):
    """A bad command line detected after parsing (bad JSON, a missing key)."""


def print_json(value: Any, stream: TextIO | None = None) -> None:
    """``value`` as indented JSON, non-ASCII kept as is."""
    print(json.dumps(value, indent=2, ensure_ascii=False, default=str), file=stream or sys.stdout)


def block(value: Any, indent: int) -> str:
    """A value for a key/value view: text as is, anything else as indented JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        value = dict(value)
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    return text.replace("\n", "\n" + " " * indent)


def char_width(char: str) -> int:
    """Columns a character takes in a terminal: 2 for wide (CJK, most emoji), 0 for
    combining marks, joiners and variation selectors, else 1."""
    if char in _ZERO_WIDTH or unicodedata.combining(char) or "\ufe00" <= char <= "\ufe0f":
        return 0
    if unicodedata.category(char) in ("Cc", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def text_width(text: str) -> int:
    """Columns ``text`` takes in a terminal."""
    return sum(char_width(char) for char in text)


def fit(text: str, width: int) -> str:
    """``text`` cut to at most ``width`` columns, ending in ``…`` when cut."""
    if text_width(text) <= width:
        return text
    out, used = [], 0
    for char in text:
        size = char_width(char)
        if used + size > width - 1:
            break
        out.append(char)
        used += size
    return "".join(out) + "…"


def pad(text: str, width: int, *, right: bool = False) -> str:
    """``text`` padded with spaces to ``width`` columns."""
    fill = " " * max(0, width - text_width(text))
    return fill + text if right else text + fill


def cell(value: Any, width: int = CELL_WIDTH) -> str:
    """A value as one table cell: text as is, others as compact JSON, on one line."""
    if value is None:
        text = ""
    elif isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, ensure_ascii=False, default=str)
    return fit(" ".join(text.split()), width)


def print_table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    right: Sequence[str] = (),
    stream: TextIO | None = None,
) -> None:
    """Columns aligned by display width; ``right`` names the columns aligned right."""
    out = stream or sys.stdout
    cells = [[cell(value) for value in row] for row in rows]
    widths = [text_width(header) for header in headers]
    for row in cells:
        widths = [max(width, text_width(text)) for width, text in zip(widths, row, strict=True)]
    flags = [header in right for header in headers]

    def line(texts: Sequence[str]) -> str:
        parts = (pad(t, w, right=r) for t, w, r in zip(texts, widths, flags, strict=True))
        return "  ".join(parts).rstrip()

    print(line(headers), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for row in cells:
        print(line(row), file=out)


def seconds(value: object) -> str:
    """A duration for people: ``850 ms``, ``2.31 s``."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return ""
    if value >= 1:
        return f"{value:.2f} s"
    return f"{value * 1000:.2f} ms" if value < 0.001 else f"{value * 1000:.1f} ms"


def money(value: object) -> str:
    """A cost in dollars, with the digits that matter for small amounts."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return ""
    return f"${value:.6f}" if 0 < value < 0.01 else f"${value:.4f}"


class Progress:
    """A one-line progress bar on stderr, redrawn at most ten times a second."""

    def __init__(self, label: str, total: int | None, *, enabled: bool) -> None:
        self.label = label
        self.total = total
        self.enabled = enabled
        self.done = 0
        self._drawn = 0.0

    def advance(self, count: int = 1) -> None:
        """Count ``count`` more items done."""
        self.done += count
        if self.enabled and time.monotonic() - self._drawn >= 0.1:
            self._draw()

    def _draw(self) -> None:
        self._drawn = time.monotonic()
        if self.total:
            share = min(1.0, self.done / self.total)
            filled = int(share * 30)
            bar = "#" * filled + "-" * (30 - filled)
            text = f"{self.label} [{bar}] {self.done:,}/{self.total:,} {share:4.0%}"
        else:
            text = f"{self.label} {self.done:,}"
        sys.stderr.write("\r" + text)
        sys.stderr.flush()

    def finish(self) -> None:
        """Draw the final count and end the line."""
        if self.enabled:
            self._draw()
            sys.stderr.write("\n")
            sys.stderr.flush()


def trace_lines(roots: list[tracetree.TraceNode], current: str | None) -> list[str]:
    """The trace as lines: the tree, each span's type, duration, a bar placed in the
    trace's time, and its log id (``*`` marks ``current``)."""
    bounds = tracetree.span_of(roots)
    rows: list[tuple[str, tracetree.TraceNode]] = []
    stack = [(node, "", "", True) for node in reversed(roots)]
    while stack:  # an explicit stack: deep traces do not hit the recursion limit
        node, lead, child_lead, _ = stack.pop()
        rows.append((lead + node.name, node))
        for index, child in reversed(list(enumerate(node.children))):
            last = index == len(node.children) - 1
            stack.append(
                (
                    child,
                    child_lead + ("└─ " if last else "├─ "),
                    child_lead + ("   " if last else "│  "),
                    last,
                )
            )
    name_width = min(48, max(text_width(label) for label, _ in rows))
    lines = []
    for label, node in rows:
        bar = ""
        if bounds is not None and node.start is not None and bounds[1] > bounds[0]:
            scale = BAR_WIDTH / (bounds[1] - bounds[0])
            start = min(BAR_WIDTH - 1, int((node.start - bounds[0]) * scale))
            length = max(1, round((node.duration or 0.0) * scale))
            bar = " " * start + "█" * min(length, BAR_WIDTH - start)
        mark = "*" if node.log_id == current else " "
        kind = str(node.log.get("log_type") or "")
        status = " error" if node.failed else ""
        lines.append(
            f"{mark} {pad(fit(label, name_width), name_width)}  {pad(kind, 10)}"
            f"{pad(seconds(node.duration), 10, right=True)}  {pad(bar, BAR_WIDTH)}  "
            f"{node.log_id}{status}"
        )
    return lines
