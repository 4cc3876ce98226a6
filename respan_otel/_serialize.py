"""Never-raising, bounded conversion of arbitrary Python values to JSON.

Captured inputs and outputs can be anything a traced function receives or returns, so
:func:`to_jsonable` and :func:`dumps` accept any object and never raise (only
``KeyboardInterrupt``, ``SystemExit`` and other non-``Exception`` errors propagate). They
never consume iterators, generators, files or streams; they read ordinary objects from
their ``__dict__``, so properties and ``__getattr__`` do not run; and they do a bounded
amount of work: a depth cap, a cap on the number of values visited, and caps on string
lengths. Every call into user code (``repr``, ``str``, ``__iter__``, ``__len__``,
``tolist``, field reads) is guarded.

Conversions:

* ``str``, ``int``, ``bool``, ``None`` and finite ``float`` are kept (subclasses become the
  plain type); ``NaN``, ``inf`` and ``-inf`` become ``"NaN"``, ``"Infinity"`` and
  ``"-Infinity"``; an ``int`` too large to print becomes ``"<int of N bits>"``.
* ``dict`` and any ``Mapping`` become objects. Keys become strings: ``None``, booleans and
  numbers as JSON spells them, anything else through ``str`` (then ``repr``).
* ``list``, ``tuple``, ``deque``, other sequences and dict views become arrays; ``set`` and
  ``frozenset`` too, sorted when all items are strings or all are numbers. A
  ``namedtuple`` becomes an object of its fields.
* ``bytes``, ``bytearray`` and ``memoryview`` become their text when they are UTF-8, else
  ``{"_base64": "<standard base64>"}``; when cut short that object also carries
  ``"_truncated": <bytes dropped>``.
* ``datetime``, ``date`` and ``time`` become ISO 8601 strings; ``timedelta`` its seconds
  as a float; ``UUID``, ``Decimal`` (exactly), paths and ``complex`` their ``str``; an
  ``Enum`` member its value, converted in turn.
* Dataclasses, attrs classes and pydantic v2 and v1 models become objects of their
  fields (plus pydantic extras), read one attribute at a time rather than through
  ``asdict``/``model_dump``/``dict()``, whose cost is unbounded; a root model becomes its
  root value. Pydantic ``SecretStr``/``SecretBytes`` (matched by type name) become
  ``"[REDACTED]"``.
* Numpy-like arrays (types with ``tolist``, ``dtype`` and ``shape``) become nested arrays,
  converting no more elements than the budget allows, so a huge array is never listed
  whole; numpy-like scalars become their Python value through ``item()``.
* Exceptions become ``{"type": "<qualified name>", "message": "<str(exc)>"}``; classes
  and functions their qualified name; modules ``"<module name>"``.
* Generators, coroutines, async generators and file objects become their ``repr``, such
  as ``"<generator object f at 0x...>"``; other iterators ``"<iterator Cls>"``.
* Any other object with public instance attributes becomes an object of them, read from
  its ``__dict__``; anything else its ``repr``, or ``"<unrepresentable Cls>"`` when that
  raises.

Markers:

* a reference back to a container being converted: ``"<cycle>"`` (shared references
  that do not form a cycle are converted each time);
* a container nested deeper than ``max_depth``: ``"<max depth exceeded: Cls>"``;
* a string cut short: its head followed by ``"...[truncated N chars]"``;
* a mapping cut short: an extra key ``"_truncated": N``, the number of keys dropped (a
  key of that name in the data is overwritten);
* an array cut short: a last element ``{"_truncated": N}``, the number of items dropped;
* ``N`` is ``true`` when the count is unknown: a user collection stopped early, raised
  while being read, or changed size during the conversion;
* a field whose read raised: ``"<unreadable: ExcType>"``;
* when :func:`dumps` cannot fit anything sensible in its byte cap:
  ``{"_truncated": true, "preview": "<head of the JSON text>"}``;
* if conversion fails outright (which the guards above should prevent):
  ``"<unserializable Cls>"``.

Redaction: when a mapping key or field name matches the :class:`Redactor`, the value is
replaced by ``"[REDACTED]"`` without being looked at.

:func:`dumps` also replaces lone surrogates with U+FFFD so its output always encodes to
UTF-8; :func:`to_jsonable` leaves strings as they are.
"""

from __future__ import annotations

import base64
import codecs
import dataclasses
import datetime as dt
import enum
import io
import json
import pathlib
import re
import types
import uuid
from collections import deque
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence, ValuesView
from collections.abc import Set as AbstractSet
from decimal import Decimal
from typing import Any, Final, Union, cast

from respan_otel._log import logger
from respan_otel._redact import REDACTED, Redactor
from respan_otel._settings import DEFAULT_MAX_FIELD_BYTES

JSONValue = Union[None, bool, int, float, str, list["JSONValue"], dict[str, "JSONValue"]]  # noqa: UP007

TRUNCATED_KEY: Final = "_truncated"
"""Key of the marker left in a mapping or array that was cut short."""
DEFAULT_MAX_BYTES: Final = DEFAULT_MAX_FIELD_BYTES
DEFAULT_MAX_DEPTH: Final = 20
DEFAULT_MAX_NODES: Final = 32_768
"""Values :func:`to_jsonable` visits at most per call; containers beyond it are cut."""
DEFAULT_MAX_STRING: Final = DEFAULT_MAX_BYTES
"""Characters :func:`to_jsonable` keeps of one string."""
BASE64_KEY: Final = "_base64"
"""Key of the object holding bytes that are not UTF-8, as standard base64."""
PREVIEW_KEY: Final = "preview"
CYCLE_MARKER: Final = "<cycle>"

_HARD_MAX_DEPTH: Final = 100
_SHORT: Final = 256
_INT_LIMIT: Final = 10**4000
_MAX_ROUNDS: Final = 4
_MAX_PROBES: Final = 12
_SECRET_TYPE_NAMES: Final = frozenset({"SecretStr", "SecretBytes", "Secret"})
_SURROGATES: Final = re.compile("[\ud800-\udfff]")
_NAMED_CALLABLES: Final = (
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.MethodWrapperType,
    types.WrapperDescriptorType,
    types.MethodDescriptorType,
    types.ClassMethodDescriptorType,
)
_LAZY_TYPES: Final = (
    types.GeneratorType,
    types.CoroutineType,
    types.AsyncGeneratorType,
    io.IOBase,
)


class _CutStr:
    """A string cut short: rendered as its head plus a truncation note."""

    __slots__ = ("dropped", "head")

    def __init__(self, head: str, dropped: int) -> None:
        self.head = head
        self.dropped = dropped


class _Count:
    """The value of a mapping's truncation marker: keys dropped, ``None`` if unknown."""

    __slots__ = ("dropped",)

    def __init__(self, dropped: int | None) -> None:
        self.dropped = dropped

    def render(self) -> int | bool:
        return True if self.dropped is None else self.dropped


class _ListCut(_Count):
    """The last element of an array cut short."""

    __slots__ = ()


_MARKER_TYPES: Final = (_CutStr, _Count, _ListCut)
_ATOMS: Final = frozenset({int, float, bool, type(None)})


def _cut_note(head: str, dropped: int) -> str:
    return f"{head}...[truncated {dropped} chars]"


def _note_len(length: int) -> int:
    """Upper bound of the bytes the truncation note adds to a string of ``length`` chars."""
    return 21 + len(str(length))


def _render_marker(obj: object) -> object:
    """``default`` hook of the encoder: turns internal markers into JSON."""
    if isinstance(obj, _CutStr):
        return _cut_note(obj.head, obj.dropped)
    if isinstance(obj, _ListCut):
        return {TRUNCATED_KEY: obj.render()}
    if isinstance(obj, _Count):
        return obj.render()
    raise TypeError(f"unexpected {type(obj).__name__} in a converted tree")


_quote: Final[Callable[[str], str]] = getattr(json.encoder, "c_encode_basestring", None) or (
    json.encoder.py_encode_basestring
)
_encode: Final = json.JSONEncoder(
    ensure_ascii=False,
    separators=(",", ":"),
    allow_nan=False,
    check_circular=False,
    default=_render_marker,
).encode


def _type_name(obj: object) -> str:
    try:
        return str(type(obj).__qualname__)
    except Exception:
        return "object"


def _qualified_name(obj: object) -> str:
    """``module.QualName`` of a class or function (builtins without the module)."""
    try:
        name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
        module = getattr(obj, "__module__", None)
        if not isinstance(name, str):
            return f"<{_type_name(obj)}>"
        name = str.__str__(name)
        if isinstance(module, str) and module != "builtins":
            return f"{str.__str__(module)}.{name}"
        return name
    except Exception:
        return f"<{_type_name(obj)}>"


def _nonfinite(value: float) -> str:
    if value != value:
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def _big_int(value: int) -> str:
    return f"<int of {value.bit_length()} bits>"


def _cut_text(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` chars with the note inline (used for keys)."""
    if len(text) <= limit:
        return text
    return _cut_note(text[:limit], len(text) - limit)


def _never(key: str) -> bool:
    return False


def _class_attr(cls: type, name: str) -> Any:
    """``cls.name`` or ``None``, even when a metaclass ``__getattr__`` raises."""
    try:
        return getattr(cls, name, None)
    except Exception:
        return None


def _class_has(obj: object, name: str) -> bool:
    """Whether the type of ``obj`` defines ``name`` (so no instance ``__getattr__`` runs)."""
    return _class_attr(type(obj), name) is not None


def _iso(value: dt.date | dt.time) -> str:
    return value.isoformat()


def _seconds(value: dt.timedelta) -> float:
    return value.total_seconds()


_SIMPLE_BASES: Final[tuple[tuple[type, Callable[[Any], object]], ...]] = (
    (dt.date, _iso),
    (dt.time, _iso),
    (dt.timedelta, _seconds),
    (uuid.UUID, str),
    (Decimal, str),
    (pathlib.PurePath, str),
    (complex, str),
)
_SIMPLE: Final[dict[type, Callable[[Any], object]]] = {
    **dict(_SIMPLE_BASES),
    dt.datetime: _iso,
    pathlib.PosixPath: str,
    pathlib.PurePosixPath: str,
    pathlib.WindowsPath: str,
    pathlib.PureWindowsPath: str,
}
_NOT_ARRAY: Final = object()


def _is_secret(value: object) -> bool:
    return any(getattr(c, "__name__", None) in _SECRET_TYPE_NAMES for c in type(value).__mro__)


def _sorted_if_uniform(values: list[Any]) -> list[Any]:
    """Sort a set's items when all are strings or all are numbers (no user ``__lt__``)."""
    if all(type(v) is str for v in values):
        return sorted(values)
    if all(type(v) is int or (type(v) is float and v == v) for v in values):
        return sorted(values)
    return values


class _Walker:
    """One conversion: the budgets left and the containers on the current path."""

    __slots__ = ("chars_left", "cut", "depth_limit", "nodes_left", "path", "redactor", "str_limit")

    def __init__(
        self, redactor: Redactor | None, max_depth: int, str_limit: int, max_nodes: int
    ) -> None:
        self.redactor = redactor if redactor is not None and redactor.keys else None
        self.depth_limit = max(0, min(max_depth, _HARD_MAX_DEPTH))
        self.str_limit = max(str_limit, _SHORT)
        self.chars_left = 4 * self.str_limit
        self.nodes_left = max_nodes
        self.path: set[int] = set()
        self.cut = False

    def run(self, value: object) -> object:
        self.nodes_left -= 1
        return self.walk(value, 0)

    def walk(self, value: Any, depth: int) -> object:
        t = type(value)
        if t is str:
            return value if len(value) <= _SHORT else self.long_str(value)
        if t is int:
            return value if -_INT_LIMIT < value < _INT_LIMIT else _big_int(value)
        if t is float:
            return value if value - value == 0.0 else _nonfinite(value)
        if value is None or t is bool:
            return value
        if t is dict:
            return self.walk_dict(value, depth)
        if t is list or t is tuple:
            return self.walk_list(value, depth)
        try:
            return self.convert(value, depth)
        except Exception:
            return self.safe_repr(value)

    def long_str(self, text: str) -> object:
        """A string longer than the fast-path bound: charged to the chars budget."""
        length = len(text)
        left = self.chars_left
        limit = min(self.str_limit, max(_SHORT, left))
        if length <= limit:
            self.chars_left = left - length
            return text
        self.chars_left = left - limit
        self.cut = True
        return _CutStr(text[:limit], length - limit)

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
            text = int.__repr__(key) if -_INT_LIMIT < key < _INT_LIMIT else _big_int(key)
        elif t is float:
            text = float.__repr__(key) if key - key == 0.0 else _nonfinite(key)
        else:
            text = self.safe_str(key)
        if len(text) > _SHORT:
            left = self.chars_left
            limit = min(self.str_limit, max(_SHORT, left))
            self.chars_left = left - min(len(text), limit)
            text = _cut_text(text, limit)
        return text

    def safe_str(self, obj: object) -> str:
        """``str(obj)`` made safe: falls back to ``repr``, then to a placeholder."""
        try:
            if isinstance(obj, str):
                return str.__str__(obj)
            if isinstance(obj, enum.Enum):
                return self.safe_str(obj.value)
            text = str(obj)
            return text if type(text) is str else str.__str__(text)
        except Exception:
            pass
        try:
            text = repr(obj)
            return text if type(text) is str else str.__str__(text)
        except Exception:
            return f"<unrepresentable {_type_name(obj)}>"

    def safe_repr(self, obj: object) -> object:
        """A bounded ``repr``; ``"<unrepresentable Cls>"`` when it raises."""
        try:
            text = repr(obj)
            if type(text) is not str:
                text = str.__str__(text)
        except Exception:
            return f"<unrepresentable {_type_name(obj)}>"
        return text if len(text) <= _SHORT else self.long_str(text)

    def too_deep(self, obj: object) -> str:
        self.cut = True
        return f"<max depth exceeded: {_type_name(obj)}>"

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
        matches = redactor.matches if redactor is not None else _never
        left = self.nodes_left
        deeper = depth + 1
        taken = 0
        try:
            for key, value in mapping.items():
                if left <= 0:
                    self.cut = True
                    out[TRUNCATED_KEY] = _Count(len(mapping) - taken)
                    break
                left -= 1
                taken += 1
                if type(key) is not str or len(key) > _SHORT:
                    key = self.key(key)
                if known is not None:
                    hit = known(key)
                    if hit is None:
                        hit = matches(key)
                    if hit:
                        out[key] = REDACTED
                        continue
                t = type(value)
                if (
                    (t is str and len(value) <= _SHORT)
                    or (t is int and -_INT_LIMIT < value < _INT_LIMIT)
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
            out[TRUNCATED_KEY] = _Count(None)
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
                    append(_ListCut(len(items) - len(out)))
                    break
                left -= 1
                t = type(value)
                if (
                    (t is str and len(value) <= _SHORT)
                    or (t is int and -_INT_LIMIT < value < _INT_LIMIT)
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
            append(_ListCut(None))
            left = min(left, self.nodes_left)
        finally:
            path.discard(ident)
        self.nodes_left = left
        return out

    def enter(self, owner: object, depth: int) -> str | None:
        """Depth and cycle check for a container; a marker, or ``None`` once entered."""
        if depth >= self.depth_limit:
            return self.too_deep(owner)
        ident = id(owner)
        if ident in self.path:
            return CYCLE_MARKER
        self.path.add(ident)
        return None

    def remaining(self, owner: object, taken: int) -> int | None:
        """How many items of ``owner`` were dropped, ``None`` if its ``len`` is unreliable."""
        try:
            total = len(cast("Sequence[object]", owner))
        except Exception:
            return None
        return total - taken if type(total) is int and total > taken else None

    def walk_iterable(
        self, owner: object, items: Iterable[Any], depth: int, *, sort: bool = False
    ) -> object:
        """Iterables known not to be consumed by iteration (sequences, sets, views)."""
        marker = self.enter(owner, depth)
        if marker is not None:
            return marker
        try:
            values: list[Any] = []
            cut = False
            try:
                room = self.nodes_left
                for value in items:
                    if len(values) >= room:
                        cut = True
                        break
                    values.append(value)
            except Exception:
                cut = True
            if sort and not cut:
                values = _sorted_if_uniform(values)
            out: list[object] = []
            deeper = depth + 1
            for value in values:
                self.nodes_left -= 1
                out.append(self.walk(value, deeper))
                if self.nodes_left <= 0 and len(out) < len(values):
                    cut = True
                    break
            if cut:
                self.cut = True
                out.append(_ListCut(self.remaining(owner, len(out))))
            return out
        finally:
            self.path.discard(id(owner))

    def walk_pairs(
        self,
        owner: object,
        pairs: Iterable[tuple[Any, Any]],
        depth: int,
        *,
        public_only: bool = False,
    ) -> object:
        """A mapping-like object: pairs are read one at a time and every read is guarded."""
        marker = self.enter(owner, depth)
        if marker is not None:
            return marker
        try:
            out: dict[str, object] = {}
            matches = self.redactor.matches if self.redactor is not None else None
            deeper = depth + 1
            taken = 0
            try:
                for key, value in pairs:
                    if public_only and (type(key) is not str or key.startswith("_")):
                        continue
                    if self.nodes_left <= 0:
                        self.cut = True
                        dropped = None if public_only else self.remaining(owner, taken)
                        out[TRUNCATED_KEY] = _Count(dropped)
                        break
                    self.nodes_left -= 1
                    taken += 1
                    name = self.key(key)
                    if matches is not None and matches(name):
                        out[name] = REDACTED
                    else:
                        out[name] = self.walk(value, deeper)
            except Exception:
                self.cut = True
                out[TRUNCATED_KEY] = _Count(None)
            return out
        finally:
            self.path.discard(id(owner))

    def walk_fields(
        self, owner: object, names: list[str], depth: int, extra: object = None
    ) -> object:
        """A record: each named attribute is read with ``getattr`` and every read guarded."""
        marker = self.enter(owner, depth)
        if marker is not None:
            return marker
        try:
            out: dict[str, object] = {}
            matches = self.redactor.matches if self.redactor is not None else None
            deeper = depth + 1
            for index, name in enumerate(names):
                if self.nodes_left <= 0:
                    self.cut = True
                    out[TRUNCATED_KEY] = _Count(len(names) - index)
                    break
                self.nodes_left -= 1
                if matches is not None and matches(name):
                    out[name] = REDACTED
                    continue
                try:
                    value = getattr(owner, name)
                except Exception as exc:
                    out[name] = f"<unreadable: {_type_name(exc)}>"
                    continue
                out[name] = self.walk(value, deeper)
            if isinstance(extra, dict) and extra and TRUNCATED_KEY not in out:
                more = self.walk_pairs(extra, list(extra.items()), depth)
                if isinstance(more, dict):
                    for key, value in more.items():
                        out.setdefault(key, value)
            return out
        finally:
            self.path.discard(id(owner))

    def convert(self, value: Any, depth: int) -> object:
        """Everything that is not an exact builtin primitive, dict, list or tuple."""
        if isinstance(value, enum.Enum):
            if depth >= self.depth_limit:
                return self.too_deep(value)
            return self.walk(value.value, depth + 1)
        if isinstance(value, str):
            return self.walk(str.__str__(value), depth)
        if isinstance(value, int):
            return self.walk(int.__int__(value), depth)
        if isinstance(value, float):
            return self.walk(float.__float__(value), depth)
        simple = _SIMPLE.get(type(value))
        if simple is not None:
            return self.walk(simple(value), depth)
        for kind, convert in _SIMPLE_BASES:
            if isinstance(value, kind):
                return self.walk(convert(value), depth)
        if isinstance(value, (bytes, bytearray, memoryview)):
            return self.binary(value)
        if _is_secret(value):
            return REDACTED
        if isinstance(value, Mapping):
            return self.walk_pairs(value, value.items(), depth)
        if isinstance(value, tuple):
            fields = _class_attr(type(value), "_fields")
            if isinstance(fields, tuple) and all(type(f) is str for f in fields):
                return self.walk_pairs(value, zip(fields, value, strict=False), depth)
            return self.walk_iterable(value, value, depth)
        if isinstance(value, (set, frozenset)):
            return self.walk_iterable(value, value, depth, sort=True)
        if isinstance(value, (list, deque, Sequence, AbstractSet, ValuesView)):
            return self.walk_iterable(value, value, depth)
        if isinstance(value, BaseException):
            return {
                "type": _qualified_name(type(value)),
                "message": self.walk(self.safe_str(value), depth),
            }
        if isinstance(value, (type, *_NAMED_CALLABLES)):
            return _qualified_name(value)
        if isinstance(value, types.ModuleType):
            return f"<module {_qualified_name(value)}>"
        if isinstance(value, _LAZY_TYPES):
            return self.safe_repr(value)
        if _class_has(value, "__next__") or _class_has(value, "__anext__"):
            return f"<iterator {_type_name(value)}>"
        if (
            _class_has(value, "tolist")
            and _class_has(value, "dtype")
            and _class_has(value, "shape")
        ):
            array = self.array(value, depth)
            if array is not _NOT_ARRAY:
                return array
        return self.record(value, depth)

    def record(self, value: Any, depth: int) -> object:
        """Dataclasses, pydantic, attrs, then anything with a ``__dict__``, then ``repr``."""
        cls = type(value)
        if _class_attr(cls, "__dataclass_fields__") is not None:
            names = [f.name for f in dataclasses.fields(cast("Any", cls))]
            return self.walk_fields(value, names, depth)
        model_fields = _class_attr(cls, "model_fields")
        if isinstance(model_fields, dict) and callable(_class_attr(cls, "model_dump")):
            if _class_attr(cls, "__pydantic_root_model__") is True:
                return self.walk(getattr(value, "root", None), depth + 1)
            extra = getattr(value, "__pydantic_extra__", None)
            return self.walk_fields(value, list(model_fields), depth, extra)
        v1_fields = _class_attr(cls, "__fields__")
        if isinstance(v1_fields, dict) and callable(_class_attr(cls, "dict")):
            if _class_attr(cls, "__custom_root_type__") is True:
                return self.walk(getattr(value, "__root__", None), depth + 1)
            return self.walk_fields(value, list(v1_fields), depth)
        attrs_fields = _class_attr(cls, "__attrs_attrs__")
        if isinstance(attrs_fields, tuple):
            return self.walk_fields(value, [a.name for a in attrs_fields], depth)
        try:
            attributes = getattr(value, "__dict__", None)
        except Exception:
            attributes = None
        if isinstance(attributes, dict):
            pairs = list(attributes.items())
            if any(type(k) is str and not k.startswith("_") for k, _ in pairs):
                return self.walk_pairs(value, pairs, depth, public_only=True)
        return self.safe_repr(value)

    def binary(self, value: bytes | bytearray | memoryview) -> object:
        """UTF-8 text when it decodes, else marked base64; at most ``str_limit`` bytes."""
        view = memoryview(value)
        if view.ndim != 1 or view.format != "B":
            view = view.cast("B")
        total = view.nbytes
        limit = min(self.str_limit, max(_SHORT, self.chars_left))
        head = bytes(view[:limit])
        self.chars_left -= len(head)
        dropped = total - len(head)
        try:
            text = codecs.getincrementaldecoder("utf-8")().decode(head, final=not dropped)
        except UnicodeDecodeError:
            encoded = base64.b64encode(head).decode("ascii")
            if not dropped:
                return {BASE64_KEY: encoded}
            self.cut = True
            return {BASE64_KEY: encoded, TRUNCATED_KEY: _Count(dropped)}
        if not dropped:
            return text
        self.cut = True
        return _CutStr(text, dropped)

    def array(self, value: Any, depth: int) -> object:
        """A numpy-like array or scalar; never converts more elements than the budget."""
        shape = value.shape
        if not isinstance(shape, tuple) or not all(type(n) is int for n in shape):
            return _NOT_ARRAY
        if not shape:
            scalar = value.item() if _class_has(value, "item") else value.tolist()
            return self.walk(scalar, depth + 1)
        if depth >= self.depth_limit:
            return self.too_deep(value)
        size = 1
        for n in shape:
            size *= n
        budget = max(self.nodes_left, 0)
        if size <= budget:
            return self.walk(value.tolist(), depth)
        rows = shape[0]
        if len(shape) == 1:
            out = self.walk(value[:budget].tolist(), depth)
        else:
            keep = min(rows, max(1, budget // max(size // rows, 1)))
            out = self.walk([value[i] for i in range(keep)], depth)
        if isinstance(out, list):
            if out and type(out[-1]) is _ListCut:
                out.pop()
            if len(out) < rows:
                self.cut = True
                out.append(_ListCut(rows - len(out)))
        return out


def _finalize(node: object) -> JSONValue:
    """Replace internal markers by their JSON form (in place: the tree is ours)."""
    if type(node) is dict:
        for key, value in node.items():
            if type(value) in (dict, list) or isinstance(value, _MARKER_TYPES):
                node[key] = _finalize(value)
    elif type(node) is list:
        for index, value in enumerate(node):
            if type(value) in (dict, list) or isinstance(value, _MARKER_TYPES):
                node[index] = _finalize(value)
    elif isinstance(node, _MARKER_TYPES):
        return cast("JSONValue", _render_marker(node))
    return cast("JSONValue", node)


def to_jsonable(
    value: object, *, redactor: Redactor | None = None, max_depth: int = DEFAULT_MAX_DEPTH
) -> JSONValue:
    """Convert ``value`` to a fresh tree of plain JSON types; never raises.

    See the module docstring for the conversions and markers. Strings keep at most
    :data:`DEFAULT_MAX_STRING` characters and at most :data:`DEFAULT_MAX_NODES` values
    are visited; ``max_depth`` is the number of nested container levels kept (at most 100).
    """
    try:
        walker = _Walker(redactor, max_depth, DEFAULT_MAX_STRING, DEFAULT_MAX_NODES)
        tree = walker.run(value)
        return _finalize(tree) if walker.cut else cast("JSONValue", tree)
    except Exception:
        logger.debug("respan_otel: could not convert a %s", _type_name(value), exc_info=True)
        return f"<unserializable {_type_name(value)[:50]}>"


def _measure(text: str) -> tuple[str, int]:
    """``text`` made valid UTF-8 (lone surrogates replaced) and its size in bytes."""
    if text.isascii():
        return text, len(text)
    try:
        return text, len(text.encode("utf-8"))
    except UnicodeEncodeError:
        text = _SURROGATES.sub("\ufffd", text)
        return text, len(text.encode("utf-8"))


def _node_budget(max_bytes: int) -> int:
    return max(1_024, min(max_bytes // 4, 131_072))


def _plain(
    value: Any, budget: int, depth: int, redactor: Redactor | None, masked: list[str]
) -> int:
    """``budget`` minus the values in ``value`` if it is JSON-ready as it stands, else -1.

    JSON-ready: nested dicts with short ``str`` keys, lists and tuples, holding short
    strings, bounded ints, finite floats, booleans and ``None``. Values under keys the
    redactor matches are not looked at; their keys are appended to ``masked``. The depth
    and value counts are small, so a cycle simply fails the check.
    """
    if depth > 6:
        return -1
    if type(value) is dict:
        budget -= len(value)
        if budget < 0:
            return -1
        if redactor is None:
            items: Iterable[Any] = value.values()
            for key in value:
                if type(key) is not str or len(key) > _SHORT:
                    return -1
        else:
            known = redactor.cache.get
            kept = []
            for key, item in value.items():
                if type(key) is not str or len(key) > _SHORT:
                    return -1
                hit = known(key)
                if hit is None:
                    hit = redactor.matches(key)
                if hit:
                    masked.append(key)
                else:
                    kept.append(item)
            items = kept
    elif type(value) is list or type(value) is tuple:
        items = value
        budget -= len(value)
        if budget < 0:
            return -1
    else:
        return -1
    for item in items:
        t = type(item)
        if t is str:
            if len(item) > _SHORT:
                return -1
        elif t is int:
            if not -_INT_LIMIT < item < _INT_LIMIT:
                return -1
        elif t is float:
            if item - item != 0.0:
                return -1
        elif t is dict or t is list or t is tuple:
            budget = _plain(item, budget, depth + 1, redactor, masked)
            if budget < 0:
                return -1
        elif item is not None and t is not bool:
            return -1
    return budget


def _masked(value: Any, redactor: Redactor) -> Any:
    """A copy of a JSON-ready ``value`` with the values under matching keys replaced."""
    if type(value) is dict:
        known = redactor.cache.get
        return {
            key: REDACTED if known(key) or redactor.matches(key) else _masked(item, redactor)
            for key, item in value.items()
        }
    if type(value) is list or type(value) is tuple:
        return [_masked(item, redactor) for item in value]
    return value


def dumps(
    value: object, *, max_bytes: int = DEFAULT_MAX_BYTES, redactor: Redactor | None = None
) -> str:
    """Serialize ``value`` to compact JSON of at most ``max_bytes`` UTF-8 bytes; never raises.

    The cap holds whenever ``max_bytes >= MIN_FIELD_BYTES``. A value that does not fit has
    its long strings cut first, then its containers, each with a marker; when even that
    fails the result is ``{"_truncated": true, "preview": "<head of the JSON>"}``.
    """
    try:
        if redactor is not None and not redactor.keys:
            redactor = None
        text, size = "", max_bytes + 1
        try:
            masked: list[str] = []
            if _plain(value, 512, 0, redactor, masked) >= 0:
                if masked and redactor is not None:
                    value = _masked(value, redactor)
                text, size = _measure(_encode(value))
        except Exception:
            text, size = "", max_bytes + 1
        if size <= max_bytes:
            return text
        return _dumps_bounded(value, max_bytes, redactor)
    except Exception:
        logger.debug("respan_otel: could not serialize a %s", _type_name(value), exc_info=True)
        return _encode(f"<unserializable {_type_name(value)[:50]}>")


def _dumps_bounded(value: object, max_bytes: int, redactor: Redactor | None) -> str:
    walker = _Walker(redactor, DEFAULT_MAX_DEPTH, max_bytes, _node_budget(max_bytes))
    tree = walker.run(value)
    text, size = _measure(_encode(tree))
    if size <= max_bytes:
        return text
    return _fit(tree, size, max_bytes)


def _fit(tree: object, size: int, max_bytes: int) -> str:
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
        text, attempt = _measure(_encode(_shrink(tree, level, None)))
        if attempt <= max_bytes:
            return text
        excess += attempt - max_bytes
    text = ""
    attempt = size - sum(n - floor for n in lengths if n > floor)
    if attempt < size and attempt <= max_bytes * 1.1:
        text, attempt = _measure(_encode(_shrink(tree, floor, None)))
        if attempt <= max_bytes:
            return text
    best: str | None = None
    low, high = 0, widest
    guess = int(widest * max_bytes / attempt * 0.95)
    for _ in range(_MAX_PROBES):
        guess = max(low + 1, min(high - 1, guess))
        if guess >= high or (low and guess <= low * 1.05):
            break
        candidate, attempt = _measure(_encode(_shrink(tree, floor, guess)))
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
        text, _ = _measure(_encode(_shrink(tree, floor, None)))
    return _preview(text, max_bytes)


def _preview(text: str, max_bytes: int) -> str:
    """``{"_truncated": true, "preview": ...}`` holding as much of ``text`` as fits."""
    room = max_bytes - len(_encode({TRUNCATED_KEY: True, PREVIEW_KEY: ""}))
    if room <= 0:
        return _encode({TRUNCATED_KEY: True})
    head = text[:room]
    while True:
        candidate, size = _measure(_encode({TRUNCATED_KEY: True, PREVIEW_KEY: head}))
        if size <= max_bytes or not head:
            return candidate
        head = head[: max(0, len(head) - (size - max_bytes))]


def _out_len(text: str) -> int:
    """Bytes ``text`` takes inside a JSON string literal (escapes and UTF-8 included)."""
    quoted = _quote(text)
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
                    lengths.append(_out_len(key) - _note_len(len(key)))
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
                    lengths.append(_out_len(value) - _note_len(len(value)))
            elif t is dict or t is list:
                stack.append(value)
            elif t is _CutStr:
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
        cut = _cut_to(node, limit, _note_len(len(node)))
        return node if cut is None else _CutStr(*cut)
    if type(node) is _CutStr:
        cut = _cut_to(node.head, limit, 0)
        return node if cut is None else _CutStr(cut[0], node.dropped + cut[1])
    if type(node) is dict:
        pairs = list(node.items())
        dropped: int | None = 0
        marker = node.get(TRUNCATED_KEY)
        if type(marker) is _Count:
            dropped = marker.dropped
            pairs = [(k, v) for k, v in pairs if k != TRUNCATED_KEY]
        if width is not None and len(pairs) > width:
            dropped = None if dropped is None else dropped + len(pairs) - width
            pairs = pairs[:width]
        out: dict[str, object] = {}
        keep = limit + 22
        for key, value in pairs:
            if len(key) > 16:
                cut_key = _cut_to(key, limit, _note_len(len(key)))
                if cut_key is not None:
                    key = _cut_note(*cut_key)
            t = type(value)
            if t in _ATOMS or (t is str and len(value) * 4 <= keep):
                out[key] = value
            else:
                out[key] = _shrink(value, limit, width)
        if dropped != 0:
            out[TRUNCATED_KEY] = _Count(dropped)
        return out
    if type(node) is list:
        items: list[object] = node
        tail: int | None = 0
        if items and type(items[-1]) is _ListCut:
            tail = items[-1].dropped
            items = items[:-1]
        if width is not None and len(items) > width:
            tail = None if tail is None else tail + len(items) - width
            items = items[:width]
        keep = limit + 22
        shrunk = [
            value
            if type(value) in _ATOMS or (type(value) is str and len(value) * 4 <= keep)
            else _shrink(value, limit, width)
            for value in items
        ]
        if tail != 0:
            shrunk.append(_ListCut(tail))
        return shrunk
    return node
