"""What kind of object a value is, decided from its type alone (never from the instance, so
no user ``__getattribute__`` or ``__getattr__`` runs), and the simple conversions."""

from __future__ import annotations

import datetime as dt
import io
import pathlib
import types
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Final

SHORT: Final = 256
"""Strings and keys up to this length take fast paths without budget accounting."""
INT_LIMIT: Final = 10**4000
"""Ints at or beyond this size are not printed (printing them is quadratic)."""

NAMED_CALLABLES: Final = (
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.MethodWrapperType,
    types.WrapperDescriptorType,
    types.MethodDescriptorType,
    types.ClassMethodDescriptorType,
)
LAZY_TYPES: Final = (
    types.GeneratorType,
    types.CoroutineType,
    types.AsyncGeneratorType,
    io.IOBase,
)
"""Values that reading would consume or block: recorded by their ``repr``."""

_SECRET_TYPE_NAMES: Final = frozenset({"SecretStr", "SecretBytes", "Secret"})

# Base classes of objects that hold behaviour or resources rather than data: API clients,
# LangChain runnables and retrievers, LlamaIndex indexes and engines, vector stores, DB
# sessions, loggers, threads and locks. Matched by class name anywhere in the MRO, so no
# framework needs to be imported to recognise its objects.
_NOT_DATA_BASES: Final = frozenset(
    {
        "SyncAPIClient",
        "AsyncAPIClient",
        "BaseClient",
        "Client",
        "AsyncClient",
        "Session",
        "AsyncSession",
        "Engine",
        "AsyncEngine",
        "Connection",
        "Cursor",
        "Runnable",
        "BaseRetriever",
        "VectorStore",
        "BasePydanticVectorStore",
        "Embeddings",
        "BaseEmbedding",
        "BaseLanguageModel",
        "BaseIndex",
        "BaseQueryEngine",
        "BaseChatEngine",
        "BaseLLM",
        "Logger",
        "Thread",
        "Executor",
        "AbstractEventLoop",
        "socket",
        "SSLContext",
        "lock",
        "RLock",
    }
)
_not_data_cache: dict[type, bool] = {}


def type_name(obj: object) -> str:
    try:
        return str(type(obj).__qualname__)
    except Exception:
        return "object"


def qualified_name(obj: object) -> str:
    """``module.QualName`` of a class or function (builtins without the module)."""
    try:
        name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
        module = getattr(obj, "__module__", None)
        if not isinstance(name, str):
            return f"<{type_name(obj)}>"
        name = str.__str__(name)
        if isinstance(module, str) and module != "builtins":
            return f"{str.__str__(module)}.{name}"
        return name
    except Exception:
        return f"<{type_name(obj)}>"


def nonfinite(value: float) -> str:
    if value != value:
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def big_int(value: int) -> str:
    return f"<int of {value.bit_length()} bits>"


def class_attr(cls: type, name: str) -> Any:
    """``cls.name`` or ``None``, even when a metaclass ``__getattr__`` raises."""
    try:
        return getattr(cls, name, None)
    except Exception:
        return None


def type_has(cls: type, name: str) -> bool:
    """Whether the class defines ``name`` (so no instance ``__getattr__`` runs)."""
    return class_attr(cls, name) is not None


def is_secret(cls: type) -> bool:
    """Pydantic ``SecretStr``/``SecretBytes`` and alike, matched by type name."""
    return any(getattr(c, "__name__", None) in _SECRET_TYPE_NAMES for c in cls.__mro__)


def is_not_data(cls: type) -> bool:
    """Whether instances are clients, chains, indexes, sessions...: summarized, not walked."""
    known = _not_data_cache.get(cls)
    if known is None:
        try:
            known = any(getattr(c, "__name__", None) in _NOT_DATA_BASES for c in cls.__mro__)
        except Exception:
            known = False
        if len(_not_data_cache) >= 1024:  # bounded: classes made on the fly must not grow it
            _not_data_cache.clear()
        _not_data_cache[cls] = known
    return known


def iso_format(value: dt.date | dt.time) -> str:
    return value.isoformat()


def total_seconds(value: dt.timedelta) -> float:
    return value.total_seconds()


SIMPLE_BASES: Final[tuple[tuple[type, Callable[[Any], object]], ...]] = (
    (dt.date, iso_format),
    (dt.time, iso_format),
    (dt.timedelta, total_seconds),
    (uuid.UUID, str),
    (Decimal, str),
    (pathlib.PurePath, str),
    (complex, str),
)
"""Types with one obvious JSON form (checked in order: ``datetime`` is a ``date``)."""
SIMPLE: Final[dict[type, Callable[[Any], object]]] = {
    **dict(SIMPLE_BASES),
    dt.datetime: iso_format,
    pathlib.PosixPath: str,
    pathlib.PurePosixPath: str,
    pathlib.WindowsPath: str,
    pathlib.PureWindowsPath: str,
}
"""The same, by exact type: one dict lookup for the common cases."""


def sorted_if_uniform(values: list[Any]) -> list[Any]:
    """Sort a set's items when all are strings or all are numbers (no user ``__lt__``)."""
    if all(type(v) is str for v in values):
        return sorted(values)
    if all(type(v) is int or (type(v) is float and v == v) for v in values):
        return sorted(values)
    return values
