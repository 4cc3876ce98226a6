"""The reader every convention module reads a span's attributes with: JSON attributes
parsed, flattened keys gathered back into lists, content cleaned (bounded, JSON-safe,
redacted), with what repeats across spans remembered."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from respan_otel import _attributes as attrs
from respan_otel._export.conventions._common import MISSING, parse, text
from respan_otel._redact import Redactor
from respan_otel._serialize import to_jsonable
from respan_otel._serialize._kinds import INT_LIMIT, SHORT

FLAT_PREFIXES: Final = (
    "llm.input_messages.",
    "llm.output_messages.",
    "llm.tools.",
    "retrieval.documents.",
    "reranker.output_documents.",
    "embedding.embeddings.",
    "gen_ai.prompt.",
    "gen_ai.completion.",
    "llm.request.functions.",
)
"""Every prefix :meth:`Reader.flat` is asked for."""
ASSOCIATION_PREFIX: Final = "traceloop.association.properties."
"""Traceloop's association properties (the row's metadata)."""
SCANNED_PREFIXES: Final = (*FLAT_PREFIXES, ASSOCIATION_PREFIX, attrs.METRICS_PREFIX)
"""Every prefix :meth:`Reader.prefixed` is asked for: the keys under them are found in one
pass over the attributes, however many of them a span is asked about."""


_NOT_SMALL: Final[Any] = object()
_SMALL_NODES: Final = 64
_SMALL_DEPTH: Final = 4
"""Trees :meth:`Reader.clean` copies itself: at most this many values and levels (far
inside the serializer's own node and depth limits, so nothing would be cut)."""

MAX_CACHED_KEYS: Final = 8192
"""Attribute names whose prefix and flattened path are remembered (instrumentations
write the same few names on every span)."""
_PREFIX_OF: dict[str, str] = {}
_CLEAN_DICTS: dict[tuple[str, str, Redactor | None], dict[str, Any]] = {}
_SCALARS: Final = (str, int, float, bool, type(None))
_PATHS: dict[str, tuple[int, tuple[str, ...]] | None] = {}


def _remember(cache: dict[Any, Any], key: Any, value: Any) -> None:
    if len(cache) >= MAX_CACHED_KEYS:
        cache.clear()
    cache[key] = value


def _path_of(key: str, skip: int) -> tuple[int, tuple[str, ...]] | None:
    """``("<prefix>3.message.role", len(prefix))`` -> ``(3, ("role",))``; ``None`` when
    the name holds no index."""
    index, _, rest = key[skip:].partition(".")
    if not rest or not _is_index(index):
        return None
    return int(index), tuple(part for part in rest.split(".") if part not in _WRAPPERS)


class Reader:
    """A span's attributes (a plain dict) and the redactor for content read from them."""

    __slots__ = ("_flat", "attributes", "redactor")

    def __init__(self, attributes: Mapping[str, Any], redactor: Redactor | None) -> None:
        self.attributes = attributes
        self.redactor = redactor
        self._flat: dict[str, list[tuple[str, Any]]] | None = None

    def prefixed(self, prefix: str) -> list[tuple[str, Any]]:
        """The attributes under ``prefix`` (one of :data:`SCANNED_PREFIXES`), in order."""
        if self._flat is None:
            groups: dict[str, list[tuple[str, Any]]] = {}
            for key, value in self.attributes.items():
                if key.startswith(SCANNED_PREFIXES):  # one C-level check per key
                    known = _PREFIX_OF.get(key)
                    if known is None:
                        known = next(p for p in SCANNED_PREFIXES if key.startswith(p))
                        _remember(_PREFIX_OF, key, known)
                    groups.setdefault(known, []).append((key, value))
            self._flat = groups
        return self._flat.get(prefix, [])

    def clean(self, value: Any) -> Any:
        """Bounded, JSON-safe and redacted."""
        if type(value) is str and len(value) <= SHORT:
            return value  # what the serializer gives back for it, without its set-up
        if type(value) is dict or type(value) is list:
            copied = self._small_copy(value, [_SMALL_NODES - 1], 0)
            if copied is not _NOT_SMALL:
                return copied
        return to_jsonable(value, redactor=self.redactor)

    def _small_copy(self, value: Any, budget: list[int], depth: int) -> Any:
        """What the serializer would give for a small tree of plain JSON (a list or a
        dict; short strings and keys, no key to mask): a fresh copy, without its set-up;
        else ``_NOT_SMALL`` (most rows' messages and documents are small)."""
        budget[0] -= len(value)
        if budget[0] < 0 or depth > _SMALL_DEPTH:
            return _NOT_SMALL
        if type(value) is list:
            items = []
            for item in value:
                item = self._small_item(item, budget, depth)
                if item is _NOT_SMALL:
                    return _NOT_SMALL
                items.append(item)
            return items
        redactor = self.redactor if self.redactor is not None and self.redactor.keys else None
        out = {}
        for key, item in value.items():
            if type(key) is not str or len(key) > SHORT:
                return _NOT_SMALL
            if redactor is not None:
                secret = redactor.cache.get(key)
                if secret is None:
                    secret = redactor.matches(key)
                if secret:
                    return _NOT_SMALL  # the serializer masks it
            item = self._small_item(item, budget, depth)
            if item is _NOT_SMALL:
                return _NOT_SMALL
            out[key] = item
        return out

    def _small_item(self, item: Any, budget: list[int], depth: int) -> Any:
        t = type(item)
        if t is str:
            return item if len(item) <= SHORT else _NOT_SMALL
        if t is dict or t is list:
            return self._small_copy(item, budget, depth + 1)
        if (
            (t is int and -INT_LIMIT < item < INT_LIMIT)
            or (t is float and item - item == 0.0)
            or t is bool
            or item is None
        ):
            return item
        return _NOT_SMALL

    def json(self, key: str) -> Any:
        """An attribute holding JSON text, parsed (text that is not JSON stays text)."""
        raw = self.attributes.get(key)
        if raw is None:
            return MISSING
        if isinstance(raw, str):
            parsed = parse(raw)
            return text(raw) if parsed is MISSING else parsed
        return raw

    def json_dict(self, key: str, keep: frozenset[str] | None = None) -> dict[str, Any] | None:
        """:meth:`json` cleaned, when it is a dict (only its ``keep`` keys, if given).
        Read-only: a flat result is shared by every span carrying the same text (an
        instrumentation writes the same parameters and metadata on every call)."""
        raw = self.attributes.get(key)
        cache_key = (key, raw, self.redactor) if type(raw) is str and len(raw) <= 4096 else None
        if cache_key is not None:
            found = _CLEAN_DICTS.get(cache_key)
            if found is not None:
                return found
        value = self.json(key)
        if not isinstance(value, dict):
            return None
        if keep is not None:
            value = {name: item for name, item in value.items() if name in keep}
        cleaned = self.clean(value)
        if not isinstance(cleaned, dict):
            return None
        if cache_key is not None and all(isinstance(v, _SCALARS) for v in cleaned.values()):
            _remember(_CLEAN_DICTS, cache_key, cleaned)
        return cleaned

    def flat(self, prefix: str) -> list[Any]:
        """Flattened attributes under ``prefix``, gathered back into a list.

        ``llm.input_messages.0.message.role`` gives ``[{"role": ...}]``; deeper keys nest:
        ``...0.message.tool_calls.1.tool_call.function.name`` becomes
        ``tool_calls[1]["function"]["name"]``. Wrapper segments (``message``,
        ``tool_call``, ``document``...) are skipped.
        """
        known = prefix in FLAT_PREFIXES  # then the name alone gives its path: cached
        items = (
            self.prefixed(prefix)
            if known
            else [(k, v) for k, v in self.attributes.items() if k.startswith(prefix)]
        )
        if not items:
            return []
        skip = len(prefix)
        root: dict[int, dict[Any, Any]] = {}
        nested = False
        for key, value in items:
            found = _PATHS.get(key, MISSING) if known else MISSING
            if found is MISSING:
                found = _path_of(key, skip)
                if known:
                    _remember(_PATHS, key, found)
            if found is None:
                continue
            index, path = found
            node = root.get(index)
            if node is None:
                node = root[index] = {}
            if len(path) == 1:  # the common case: "<i>.message.role"
                node[path[0]] = value
                continue
            if not path:
                continue
            nested = True
            for part in path[:-1]:
                step: Any = int(part) if _is_index(part) else part
                child = node.setdefault(step, {})
                if not isinstance(child, dict):
                    break
                node = child
            else:
                node[path[-1]] = value
        if not nested:
            return [root[index] for index in sorted(root)]
        return [_as_lists(root[index]) for index in sorted(root)]


def _is_index(part: str) -> bool:
    """A list index in a flattened key: plain ASCII digits, of a sane length."""
    return len(part) <= 6 and part.isdigit() and part.isascii()


_WRAPPERS: Final = frozenset(
    {"message", "tool_call", "message_content", "document", "embedding", "tool"}
)
"""Name segments that only wrap the fields of a flattened item."""


def _as_lists(node: Any) -> Any:
    """Dicts keyed 0..n (from flattened indices) become lists, recursively."""
    if not isinstance(node, dict):
        return node
    if node and all(isinstance(key, int) for key in node):
        return [_as_lists(node[key]) for key in sorted(node)]
    return {str(key): _as_lists(value) for key, value in node.items()}
