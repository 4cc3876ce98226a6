"""The marks a cut-short value carries, and the one JSON encoder that renders them."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, Final, Union, cast

JSONValue = Union[None, bool, int, float, str, list["JSONValue"], dict[str, "JSONValue"]]  # noqa: UP007

TRUNCATED_KEY: Final = "_truncated"
"""Key of the marker left in a mapping or array that was cut short."""
BASE64_KEY: Final = "_base64"
"""Key of the object holding bytes that are not UTF-8, as standard base64."""
PREVIEW_KEY: Final = "preview"
CYCLE_MARKER: Final = "<cycle>"
BUDGET_MARKER: Final = "<not read: serialization budget spent>"
"""Stands for values left unread once a call's reads or time budget is spent."""

_SURROGATES: Final = re.compile("[\ud800-\udfff]")


class CutStr:
    """A string cut short: rendered as its head plus a truncation note."""

    __slots__ = ("dropped", "head")

    def __init__(self, head: str, dropped: int) -> None:
        self.head = head
        self.dropped = dropped


class Count:
    """The value of a mapping's truncation marker: keys dropped, ``None`` if unknown."""

    __slots__ = ("dropped",)

    def __init__(self, dropped: int | None) -> None:
        self.dropped = dropped

    def render(self) -> int | bool:
        return True if self.dropped is None else self.dropped


class ListCut(Count):
    """The last element of an array cut short."""

    __slots__ = ()


MARKER_TYPES: Final = (CutStr, Count, ListCut)
ATOMS: Final = frozenset({int, float, bool, type(None)})


def cut_note(head: str, dropped: int) -> str:
    return f"{head}...[truncated {dropped} chars]"


def note_len(length: int) -> int:
    """Upper bound of the bytes the truncation note adds to a string of ``length`` chars."""
    return 21 + len(str(length))


def render_marker(obj: object) -> object:
    """``default`` hook of the encoder: turns internal markers into JSON."""
    if isinstance(obj, CutStr):
        return cut_note(obj.head, obj.dropped)
    if isinstance(obj, ListCut):
        return {TRUNCATED_KEY: obj.render()}
    if isinstance(obj, Count):
        return obj.render()
    raise TypeError(f"unexpected {type(obj).__name__} in a converted tree")


quote: Final[Callable[[str], str]] = getattr(json.encoder, "c_encode_basestring", None) or (
    json.encoder.py_encode_basestring
)
encode_compact: Final = json.JSONEncoder(
    ensure_ascii=False,
    separators=(",", ":"),
    allow_nan=False,
    check_circular=False,  # the walker already replaced cycles by a marker
    default=render_marker,
).encode


def measure(text: str) -> tuple[str, int]:
    """``text`` made valid UTF-8 (lone surrogates replaced) and its size in bytes."""
    if text.isascii():
        return text, len(text)
    try:
        return text, len(text.encode("utf-8"))
    except UnicodeEncodeError:
        text = _SURROGATES.sub("\ufffd", text)
        return text, len(text.encode("utf-8"))


def finalize(node: object) -> JSONValue:
    """Replace internal markers by their JSON form (in place: the tree is ours)."""
    if type(node) is dict:
        for key, value in node.items():
            if type(value) in (dict, list) or isinstance(value, MARKER_TYPES):
                node[key] = finalize(value)
    elif type(node) is list:
        for index, value in enumerate(node):
            if type(value) in (dict, list) or isinstance(value, MARKER_TYPES):
                node[index] = finalize(value)
    elif isinstance(node, MARKER_TYPES):
        return cast("JSONValue", render_marker(node))
    return cast("JSONValue", node)


def cast_json(value: Any) -> JSONValue:
    return cast("JSONValue", value)
