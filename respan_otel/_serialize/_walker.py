"""The walk over a value: plain data on fast paths, every call into user code charged to
the call's budgets. Objects other than dicts, lists and scalars go to ``_convert``.
"""

from __future__ import annotations

import enum
import time
from typing import Any, Final

from respan_otel._redact import REDACTED, Redactor
from respan_otel._serialize._convert import convert
from respan_otel._serialize._kinds import (
    INT_LIMIT,
    SHORT,
    big_int,
    nonfinite,
    type_name,
)
from respan_otel._serialize._markers import (
    BUDGET_MARKER,
    CYCLE_MARKER,
    TRUNCATED_KEY,
    Count,
    CutStr,
    ListCut,
    cut_note,
)

DEFAULT_MAX_READS: Final = 4096
"""Calls into user code (attribute reads, ``repr``, collection steps) one call may make."""
DEFAULT_MAX_SECONDS: Final = 0.2
"""Time one call may spend reading objects; checked before each call into user code."""
DEFAULT_MAX_DEPTH: Final = 20
"""Container levels kept by default; deeper ones become ``<max depth exceeded: Cls>``."""
HARD_MAX_DEPTH: Final = 100


class Walker:
    """One conversion: the budgets left and the containers on the current path.

    Budgets bound the work of one call whatever the value: ``nodes_left`` values visited,
    ``chars_left`` characters kept, ``reads_left`` calls into user code (attribute reads,
    ``repr``, iteration of user collections) and a ``deadline``. Once reads or time are
    spent, values not yet read become :data:`BUDGET_MARKER`.
    """

    __slots__ = (
        "chars_left",
        "cut",
        "deadline",
        "depth_limit",
        "nodes_left",
        "path",
        "reads_left",
        "redactor",
        "spent",
        "str_limit",
    )

    def __init__(
        self,
        redactor: Redactor | None,
        max_depth: int,
        str_limit: int,
        max_nodes: int,
        max_reads: int = DEFAULT_MAX_READS,
        max_seconds: float = DEFAULT_MAX_SECONDS,
    ) -> None:
        self.redactor = redactor if redactor is not None and redactor.keys else None
        self.depth_limit = max(0, min(max_depth, HARD_MAX_DEPTH))
        self.str_limit = max(str_limit, SHORT)
        self.chars_left = 4 * self.str_limit
        self.nodes_left = max_nodes
        self.reads_left = max_reads
        self.deadline = time.perf_counter() + max_seconds
        self.spent = False
        self.path: set[int] = set()
        self.cut = False

    def run(self, value: object) -> object:
        self.nodes_left -= 1
        return self.walk(value, 0)

    def may_read(self) -> bool:
        """Charge one call into user code; ``False`` once reads or time are spent."""
        if self.spent:
            return False
        self.reads_left -= 1
        if self.reads_left < 0 or time.perf_counter() > self.deadline:
            self.spent = self.cut = True
            return False
        return True

    def walk(self, value: Any, depth: int) -> object:
        t = type(value)
        if t is str:
            return value if len(value) <= SHORT else self.long_str(value)
        if t is int:
            return value if -INT_LIMIT < value < INT_LIMIT else big_int(value)
        if t is float:
            return value if value - value == 0.0 else nonfinite(value)
        if value is None or t is bool:
            return value
        if t is dict:
            return self.walk_dict(value, depth)
        if t is list or t is tuple:
            return self.walk_list(value, depth)
        if not self.may_read():
            return BUDGET_MARKER
        try:
            return convert(self, value, depth)
        except Exception:
            return self.safe_repr(value)

    def long_str(self, text: str) -> object:
        """A string longer than the fast-path bound: charged to the chars budget."""
        length = len(text)
        left = self.chars_left
        limit = min(self.str_limit, max(SHORT, left))
        if length <= limit:
            self.chars_left = left - length
            return text
        self.chars_left = left - limit
        self.cut = True
        return CutStr(text[:limit], length - limit)

    def key(self, key: Any) -> str:
        """A mapping key as a string (JSON spelling for scalars), cut when enormous."""
        t = type(key)
        if t is str:
            text: str = key
        elif key is None:
            text = "null"
        elif t is bool:
            text = "true" if key else "false"
        elif t is int:
            text = int.__repr__(key) if -INT_LIMIT < key < INT_LIMIT else big_int(key)
        elif t is float:
            text = float.__repr__(key) if key - key == 0.0 else nonfinite(key)
        else:
            text = self.safe_str(key)
        if len(text) > SHORT:
            left = self.chars_left
            limit = min(self.str_limit, max(SHORT, left))
            self.chars_left = left - min(len(text), limit)
            if len(text) > limit:
                text = cut_note(text[:limit], len(text) - limit)
        return text

    def safe_str(self, obj: object) -> str:
        """``str(obj)`` made safe: falls back to ``repr``, then to a placeholder."""
        try:
            cls = type(obj)
            if issubclass(cls, str):
                return str.__str__(obj)
            if issubclass(cls, enum.Enum):
                return self.safe_str(obj.value)  # type: ignore[attr-defined]
            text = str(obj)
            return text if type(text) is str else str.__str__(text)
        except Exception:
            pass
        try:
            text = repr(obj)
            return text if type(text) is str else str.__str__(text)
        except Exception:
            return f"<unrepresentable {type_name(obj)}>"

    def safe_repr(self, obj: object) -> object:
        """A bounded ``repr``; ``"<unrepresentable Cls>"`` when it raises."""
        try:
            text = repr(obj)
            if type(text) is not str:
                text = str.__str__(text)
        except Exception:
            return f"<unrepresentable {type_name(obj)}>"
        return text if len(text) <= SHORT else self.long_str(text)

    def too_deep(self, obj: object) -> str:
        self.cut = True
        return f"<max depth exceeded: {type_name(obj)}>"

    def walk_dict(self, mapping: dict[Any, Any], depth: int) -> object:
        if depth >= self.depth_limit:
            return self.too_deep(mapping)
        ident = id(mapping)
        path = self.path
        if ident in path:
            return CYCLE_MARKER
        path.add(ident)
        out: dict[str, object] = {}
        redactor = self.redactor
        known = redactor.cache.get if redactor is not None else None
        matches = redactor.matches if redactor is not None else None
        left = self.nodes_left
        deeper = depth + 1
        taken = 0
        try:
            for key, value in mapping.items():
                if left <= 0:
                    self.cut = True
                    out[TRUNCATED_KEY] = Count(len(mapping) - taken)
                    break
                left -= 1
                taken += 1
                if type(key) is not str or len(key) > SHORT:
                    key = self.key(key)
                if known is not None:
                    hit = known(key)
                    if hit is None:
                        hit = matches(key)  # type: ignore[misc]
                    if hit:
                        out[key] = REDACTED
                        continue
                t = type(value)
                if (
                    (t is str and len(value) <= SHORT)
                    or (t is int and -INT_LIMIT < value < INT_LIMIT)
                    or (t is float and value - value == 0.0)
                    or t is bool
                    or value is None
                ):
                    out[key] = value
                else:
                    self.nodes_left = left
                    out[key] = self.walk(value, deeper)
                    left = self.nodes_left
        except RuntimeError:
            self.cut = True
            out[TRUNCATED_KEY] = Count(None)
            left = min(left, self.nodes_left)
        finally:
            path.discard(ident)
        self.nodes_left = left
        return out

    def walk_list(self, items: list[Any] | tuple[Any, ...], depth: int) -> object:
        if depth >= self.depth_limit:
            return self.too_deep(items)
        ident = id(items)
        path = self.path
        if ident in path:
            return CYCLE_MARKER
        path.add(ident)
        out: list[object] = []
        append = out.append
        left = self.nodes_left
        deeper = depth + 1
        try:
            for value in items:
                if left <= 0:
                    self.cut = True
                    append(ListCut(len(items) - len(out)))
                    break
                left -= 1
                t = type(value)
                if (
                    (t is str and len(value) <= SHORT)
                    or (t is int and -INT_LIMIT < value < INT_LIMIT)
                    or (t is float and value - value == 0.0)
                    or t is bool
                    or value is None
                ):
                    append(value)
                else:
                    self.nodes_left = left
                    append(self.walk(value, deeper))
                    left = self.nodes_left
        except RuntimeError:
            self.cut = True
            append(ListCut(None))
            left = min(left, self.nodes_left)
        finally:
            path.discard(ident)
        self.nodes_left = left
        return out
