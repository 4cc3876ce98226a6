"""The fast path of ``dumps``: plain data (dicts with str keys, lists, tuples, str, int,
float, bool, None) that fits as it stands goes straight to the C encoder.

A short scan checks the shape (exact types, depth, counts, text size) before anything is
encoded; anything it is unsure of returns ``None`` and takes the general walk, which
gives the same JSON for plain data. So this path only has to be right when it answers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, Final

from respan_otel._redact import REDACTED, Redactor
from respan_otel._serialize._markers import measure
from respan_otel._serialize._walker import DEFAULT_MAX_DEPTH

_CONTAINERS: Final = frozenset({dict, list, tuple})
_HUGE_INT_DIGITS: Final = 4000
_HUGE_INT: Final = re.compile(rf"\d{{{_HUGE_INT_DIGITS}}}")
"""An int the walker would write as ``<int of N bits>`` (or a long run of digits in a
string, which merely sends the value the general way)."""


def _reject(value: object) -> object:
    raise TypeError  # not plain data: the general walk handles it


_ENCODER: Final = json.JSONEncoder(
    ensure_ascii=False,
    separators=(",", ":"),
    allow_nan=False,  # NaN and infinities take the general way (written as strings there)
    check_circular=False,  # the scan refused anything deeper than the walker keeps
    default=_reject,
)
# The C encoder itself, made once: JSONEncoder.encode builds one per call, a fixed cost
# larger than encoding a small value. Same arguments as JSONEncoder.iterencode passes.
_make_encoder = getattr(json.encoder, "c_make_encoder", None)
_c_encode: Final[Callable[[Any, int], Any] | None] = (
    _make_encoder(
        None, _reject, json.encoder.encode_basestring, None, ":", ",", False, False, False
    )
    if _make_encoder is not None
    else None
)


def _encode(value: Any) -> str:
    if _c_encode is None:  # no C accelerator (PyPy, or CPython built without it)
        return _ENCODER.encode(value)
    return "".join(_c_encode(value, 0))


_SCALARS: Final = frozenset({int, float, bool, type(None)})

# What PlainScan.check finds a container to be.
_NOT_PLAIN: Final = 0
_FLAT: Final = 1  # plain, its items all str, numbers, bool or None
_NESTED: Final = 2  # plain, with containers inside


class NotPlainError(Exception):
    """The value is not plain data, or not within the budgets: take the general way."""


class PlainScan:
    """Keys met, and values and characters left, while checking the shape of values.

    Both budgets are checked before anything is encoded, so a value that cannot take
    this path costs no more than a look at its containers.
    """

    __slots__ = ("chars", "keys", "left")

    def __init__(self, budget: int, chars: int) -> None:
        self.keys: set[str] = set()  # each checked once by the redactor, however often met
        self.left = budget
        self.chars = chars

    def check(self, value: Any, depth: int) -> int:
        """Whether container ``value`` is plain (flat or nested) or not; counts it in."""
        if depth >= DEFAULT_MAX_DEPTH:
            return _NOT_PLAIN  # deeper than the walker keeps (or a cycle)
        self.left -= len(value)
        if self.left < 0:
            return _NOT_PLAIN  # more values than the walker visits
        chars = self.chars  # a local in the loops: this runs for every yielded item
        shape = _FLAT
        if type(value) is dict:
            for key, item in value.items():
                if type(key) is not str:
                    return _NOT_PLAIN  # the walker turns 1 and "1" into one key
                kind = type(item)
                if kind is str:
                    chars -= len(key) + len(item)
                    continue
                chars -= len(key)
                if kind in _SCALARS:
                    continue
                self.chars = chars
                if kind not in _CONTAINERS or not self.check(item, depth + 1):
                    return _NOT_PLAIN
                chars, shape = self.chars, _NESTED
            self.keys.update(value)
        else:
            for item in value:
                kind = type(item)
                if kind is str:
                    chars -= len(item)
                elif kind in _SCALARS:
                    continue
                else:
                    self.chars = chars
                    if kind not in _CONTAINERS or not self.check(item, depth + 1):
                        return _NOT_PLAIN
                    chars, shape = self.chars, _NESTED
        self.chars = chars
        # more text than the cap holds: cut by the general way
        return shape if chars >= 0 else _NOT_PLAIN

    def take(self, value: Any, depth: int) -> Any:
        """A snapshot of ``value``, one more value at ``depth``: new dicts and lists, the
        immutable parts shared, so mutating the original leaves it as it was. Raises
        :class:`NotPlainError` for anything else."""
        self.left -= 1
        kind = type(value)
        if kind is str:
            self.chars -= len(value)
        elif kind in _CONTAINERS:
            shape = self.check(value, depth)
            if shape == _FLAT:
                return value if kind is tuple else value.copy()
            if shape == _NESTED:
                return _copy(value)
            raise NotPlainError
        elif kind not in _SCALARS:
            raise NotPlainError
        if self.left < 0 or self.chars < 0:
            raise NotPlainError
        return value

    def encode(self, value: Any, max_bytes: int, redactor: Redactor | None) -> str | None:
        """The JSON of a value this scan checked, redacted, if it fits in ``max_bytes``."""
        # one C-level test when every key met is already known to be kept (the usual case)
        if redactor is not None and not self.keys <= redactor.kept:
            matches = redactor.matches
            for key in self.keys:
                if matches(key):
                    value = _masked(value, redactor)
                    break
        try:
            text, size = measure(_encode(value))
        except (TypeError, ValueError):  # NaN or infinity, a subclass the encoder refused
            return None
        if size > max_bytes or (len(text) >= _HUGE_INT_DIGITS and _HUGE_INT.search(text)):
            return None
        return text


def _copy(value: Any) -> Any:
    """A copy of checked plain ``value`` with new containers (immutable leaves shared)."""
    kind = type(value)
    if kind is dict:
        return {
            key: item if type(item) not in _CONTAINERS else _copy(item)
            for key, item in value.items()
        }
    copies = [item if type(item) not in _CONTAINERS else _copy(item) for item in value]
    return copies if kind is list else tuple(copies)


def plain_json(value: Any, max_bytes: int, budget: int, redactor: Redactor | None) -> str | None:
    """The JSON of ``value`` if it is plain data within ``budget`` values that fits in
    ``max_bytes``; else ``None``. Values under keys the redactor matches are masked."""
    if type(value) not in _CONTAINERS:
        return None
    scan = PlainScan(budget, max_bytes)
    if not scan.check(value, 0):
        return None
    return scan.encode(value, max_bytes, redactor)


def _masked(value: Any, redactor: Redactor) -> Any:
    """A copy of plain ``value`` with the values under matching keys replaced."""
    if type(value) is dict:
        return {
            key: REDACTED if redactor.matches(key) else _masked(item, redactor)
            for key, item in value.items()
        }
    if type(value) is list or type(value) is tuple:
        return [_masked(item, redactor) for item in value]
    return value
