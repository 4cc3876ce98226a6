"""Objects other than exact dicts, lists and scalars, dispatched on their type alone.

``isinstance`` would read ``__class__`` through a user ``__getattribute__`` whenever the
type does not match, once per check; ``issubclass(type(value), ...)`` never touches the
instance, so an object costs the walker one charged read before its fields.
"""

from __future__ import annotations

import base64
import codecs
import dataclasses
import enum
import types
from collections import deque
from collections.abc import Mapping, Sequence, ValuesView
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING, Any, Final, cast

from respan_otel._redact import REDACTED
from respan_otel._serialize._kinds import (
    LAZY_TYPES,
    NAMED_CALLABLES,
    SHORT,
    SIMPLE,
    SIMPLE_BASES,
    class_attr,
    is_not_data,
    is_secret,
    qualified_name,
    type_has,
)
from respan_otel._serialize._markers import BASE64_KEY, TRUNCATED_KEY, Count, CutStr, ListCut
from respan_otel._serialize._records import walk_fields, walk_iterable, walk_pairs

if TYPE_CHECKING:
    from respan_otel._serialize._walker import Walker

_NOT_ARRAY: Final = object()
_SUMMARY_REPR_CHARS: Final = 100


def convert(w: Walker, value: Any, depth: int) -> object:
    """Everything that is not an exact builtin primitive, dict, list or tuple."""
    cls = type(value)
    if issubclass(cls, enum.Enum):
        if depth >= w.depth_limit:
            return w.too_deep(value)
        return w.walk(value.value, depth + 1)
    if issubclass(cls, str):
        return w.walk(str.__str__(value), depth)
    if issubclass(cls, int):
        return w.walk(int.__int__(value), depth)
    if issubclass(cls, float):
        return w.walk(float.__float__(value), depth)
    simple = SIMPLE.get(cls)
    if simple is not None:
        return w.walk(simple(value), depth)
    for kind, to_json in SIMPLE_BASES:
        if issubclass(cls, kind):
            return w.walk(to_json(value), depth)
    if issubclass(cls, (bytes, bytearray, memoryview)):
        return binary(w, value)
    if is_secret(cls):
        return REDACTED
    if is_not_data(cls):
        return summary(w, value)
    if issubclass(cls, Mapping):
        return walk_pairs(w, value, value.items(), depth)
    if issubclass(cls, tuple):
        fields = class_attr(cls, "_fields")
        if isinstance(fields, tuple) and all(type(f) is str for f in fields):
            return walk_pairs(w, value, zip(fields, value, strict=False), depth)  # namedtuple
        return walk_iterable(w, value, value, depth)
    if issubclass(cls, (set, frozenset)):
        return walk_iterable(w, value, value, depth, sort=True)
    if issubclass(cls, (list, deque, Sequence, AbstractSet, ValuesView)):
        return walk_iterable(w, value, value, depth)
    if issubclass(cls, BaseException):
        return {"type": qualified_name(cls), "message": w.walk(w.safe_str(value), depth)}
    if issubclass(cls, (type, *NAMED_CALLABLES)):
        return qualified_name(value)
    if issubclass(cls, types.ModuleType):
        return f"<module {qualified_name(value)}>"
    if issubclass(cls, LAZY_TYPES):
        return w.safe_repr(value)
    if type_has(cls, "__next__") or type_has(cls, "__anext__"):
        return f"<iterator {cls.__qualname__}>"
    if type_has(cls, "tolist") and type_has(cls, "dtype") and type_has(cls, "shape"):
        converted = array(w, value, depth)
        if converted is not _NOT_ARRAY:
            return converted
    return record(w, value, depth)


def summary(w: Walker, value: object) -> str:
    """``<module.Type> short repr`` of an object that holds behaviour, not data."""
    cls = type(value)
    name = qualified_name(cls)
    custom_repr = class_attr(cls, "__repr__")
    # the default repr adds nothing but an address; pydantic's walks every field
    if custom_repr is object.__repr__ or str(getattr(custom_repr, "__module__", "")).startswith(
        "pydantic"
    ):
        return f"<{name}>"
    try:
        text = repr(value)
        text = text if type(text) is str else str.__str__(text)
    except Exception:
        return f"<{name}>"
    if len(text) > _SUMMARY_REPR_CHARS:
        text = text[:_SUMMARY_REPR_CHARS] + "..."
    return f"<{name}> {text}"


def record(w: Walker, value: Any, depth: int) -> object:
    """Dataclasses, pydantic, attrs, then anything with a ``__dict__``, then ``repr``."""
    cls = type(value)
    if class_attr(cls, "__dataclass_fields__") is not None:
        names = [f.name for f in dataclasses.fields(cast("Any", cls))]
        return walk_fields(w, value, names, depth)
    model_fields = class_attr(cls, "model_fields")
    if isinstance(model_fields, dict) and callable(class_attr(cls, "model_dump")):
        if class_attr(cls, "__pydantic_root_model__") is True:
            return w.walk(getattr(value, "root", None), depth + 1)
        extra = getattr(value, "__pydantic_extra__", None)
        return walk_fields(w, value, list(model_fields), depth, extra)
    v1_fields = class_attr(cls, "__fields__")
    if isinstance(v1_fields, dict) and callable(class_attr(cls, "dict")):
        if class_attr(cls, "__custom_root_type__") is True:
            return w.walk(getattr(value, "__root__", None), depth + 1)
        return walk_fields(w, value, list(v1_fields), depth)
    attrs_fields = class_attr(cls, "__attrs_attrs__")
    if isinstance(attrs_fields, tuple):
        return walk_fields(w, value, [a.name for a in attrs_fields], depth)
    try:
        attributes = getattr(value, "__dict__", None)
    except Exception:
        attributes = None
    if isinstance(attributes, dict):
        pairs = list(attributes.items())
        if any(type(k) is str and not k.startswith("_") for k, _ in pairs):
            return walk_pairs(w, value, pairs, depth, public_only=True)
    return w.safe_repr(value)


def binary(w: Walker, value: bytes | bytearray | memoryview) -> object:
    """UTF-8 text when it decodes, else marked base64; at most ``str_limit`` bytes."""
    view = memoryview(value)
    if view.ndim != 1 or view.format != "B":
        view = view.cast("B")
    total = view.nbytes
    limit = min(w.str_limit, max(SHORT, w.chars_left))
    head = bytes(view[:limit])
    w.chars_left -= len(head)
    dropped = total - len(head)
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=not dropped)
    except UnicodeDecodeError:
        encoded = base64.b64encode(head).decode("ascii")
        if not dropped:
            return {BASE64_KEY: encoded}
        w.cut = True
        return {BASE64_KEY: encoded, TRUNCATED_KEY: Count(dropped)}
    if not dropped:
        return text
    w.cut = True
    return CutStr(text, dropped)


def array(w: Walker, value: Any, depth: int) -> object:
    """A numpy-like array or scalar; never converts more elements than the budget."""
    shape = value.shape
    if not isinstance(shape, tuple) or not all(type(n) is int for n in shape):
        return _NOT_ARRAY
    if not shape:
        scalar = value.item() if type_has(type(value), "item") else value.tolist()
        return w.walk(scalar, depth + 1)
    if depth >= w.depth_limit:
        return w.too_deep(value)
    size = 1
    for n in shape:
        size *= n
    budget = max(w.nodes_left, 0)
    if size <= budget:
        return w.walk(value.tolist(), depth)
    rows = shape[0]
    if len(shape) == 1:
        out = w.walk(value[:budget].tolist(), depth)
    else:
        keep = min(rows, max(1, budget // max(size // rows, 1)))
        out = w.walk([value[i] for i in range(keep)], depth)
    if isinstance(out, list):
        if out and type(out[-1]) is ListCut:
            out.pop()
        if len(out) < rows:
            w.cut = True
            out.append(ListCut(rows - len(out)))
    return out
