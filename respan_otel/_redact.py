"""Key-based redaction of captured data.

A :class:`Redactor` decides, from a mapping key or field name alone, whether the value
under it is a secret. The serializer asks before it looks at the value, so a masked value
is never converted, measured or exported: it becomes :data:`REDACTED`.

Matching rules (all case-insensitive):

* A key is split into words on ``_``, ``-``, ``.``, whitespace and camelCase boundaries
  (``apiKey`` -> ``api key``; ``HTTPAuthorization`` -> ``http authorization``;
  ``oauth2Token`` -> ``oauth2 token``). Each configured key is split the same way.
* A configured key matches when its words appear as a contiguous run of whole words in
  the key: ``api_key`` matches ``OPENAI_API_KEY``, ``x-api-key`` and ``apiKey``;
  ``token`` matches ``access_token`` and ``refreshToken``.
* A configured key also matches when the key, with its separators removed, equals the
  configured key with its separators removed: ``api_key`` matches ``APIKEY``.
* A run followed by a counting word (``usage``, ``count``, ``details``, ``limit``...) or
  preceded by one (``max``, ``num``, ``total``...) names a number about the secret, not
  the secret: ``token_usage``, ``input_token_details``, ``token_count`` are kept, while
  ``token``, ``access_token``, ``refresh_token``, ``id_token`` stay masked.
* Nothing else matches. In particular a configured word never matches a longer word that
  merely contains it, so with the defaults ``max_tokens``, ``prompt_tokens``,
  ``tokenizer`` and ``secretary`` are kept: token counts are data, not secrets. Plurals
  are longer words too: ``secrets`` and ``cookies`` are kept unless configured.

Answers are cached per key string, so the keys seen on every traced call cost one dict
lookup. The cache is bounded (4096 keys of up to 256 characters); when full it is
cleared and refilled.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Final

REDACTED: Final = "[REDACTED]"
"""What a masked value is replaced with."""

_SEPARATORS: Final = re.compile(r"[\s_\-.]+")
_CAMEL_BOUNDARY: Final = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_COUNTING_AFTER: Final = frozenset(
    {"usage", "usages", "count", "counts", "detail", "details", "limit", "limits", "budget"}
    | {"total", "totals", "length", "len", "size", "type", "types", "estimate", "number"}
)
_COUNTING_BEFORE: Final = frozenset({"max", "min", "num", "number", "total", "count"})
_CACHE_LIMIT: Final = 4096
_CACHED_KEY_LENGTH: Final = 256


def split_words(key: str) -> tuple[str, ...]:
    """The lower-cased words of ``key``, split on separators and camelCase boundaries."""
    words: list[str] = []
    for chunk in _SEPARATORS.split(key):
        if chunk:
            words.extend(part.lower() for part in _CAMEL_BOUNDARY.split(chunk) if part)
    return tuple(words)


class Redactor:
    """Decides whether a mapping key names a secret whose value must be masked.

    ``cache`` holds the answers given so far, per key, and ``kept`` the keys among them
    that do not match. Callers must not write to either; hot loops may try
    ``cache.get(key)`` and call :meth:`matches` only on a miss, or test a whole set of
    keys at once with ``keys <= kept``.
    """

    __slots__ = ("_compact", "_phrases", "_vocabulary", "cache", "kept", "keys")
    _phrases: dict[str, tuple[tuple[str, ...], ...]]

    def __init__(self, keys: Iterable[str]) -> None:
        if isinstance(keys, str):
            keys = (keys,)
        self.keys: tuple[str, ...] = tuple(keys)
        phrases: list[tuple[str, ...]] = []
        compact: set[str] = set()
        for configured in self.keys:
            words = split_words(configured)
            if words:
                phrases.append(words)
                compact.add("".join(words))
        by_first: dict[str, list[tuple[str, ...]]] = {}
        for words in dict.fromkeys(phrases):
            by_first.setdefault(words[0], []).append(words)
        self._phrases = {first: tuple(found) for first, found in by_first.items()}  # by 1st word
        self._compact: frozenset[str] = frozenset(compact)
        # Every match contains a configured word in the key with separators removed, so
        # one regex search rules out most keys without splitting them into words.
        vocabulary = sorted({word for words in phrases for word in words}, key=len, reverse=True)
        self._vocabulary = (
            re.compile("|".join(map(re.escape, vocabulary)), re.IGNORECASE) if vocabulary else None
        )
        self.cache: dict[str, bool] = {}
        self.kept: set[str] = set()

    def __repr__(self) -> str:
        return f"Redactor({self.keys!r})"

    def matches(self, key: str) -> bool:
        """Whether the value under ``key`` must be masked (cached per key string)."""
        hit = self.cache.get(key)
        if hit is None:
            hit = self._decide(key)
            if len(key) <= _CACHED_KEY_LENGTH:
                cache = self.cache
                if len(cache) >= _CACHE_LIMIT:
                    cache.clear()
                    self.kept.clear()
                cache[key] = hit
                if not hit:
                    self.kept.add(key)
        return hit

    def _decide(self, key: str) -> bool:
        if self._vocabulary is None or not self._vocabulary.search(_SEPARATORS.sub("", key)):
            return False
        words = split_words(key)
        if not words:
            return False
        if "".join(words) in self._compact:
            return True
        phrases = self._phrases
        for start, word in enumerate(words):
            for phrase in phrases.get(word, ()):
                end = start + len(phrase)
                if words[start:end] == phrase and not _counting(words, start, end):
                    return True
        return False


def _counting(words: tuple[str, ...], start: int, end: int) -> bool:
    """Whether the words around ``words[start:end]`` make it a count (``token_usage``)."""
    return (end < len(words) and words[end] in _COUNTING_AFTER) or (
        start > 0 and words[start - 1] in _COUNTING_BEFORE
    )


@lru_cache(maxsize=32)
def get_redactor(keys: tuple[str, ...]) -> Redactor:
    """A shared redactor for one set of keys, so its match cache is shared too."""
    return Redactor(keys)
