"""Key-based redaction of captured data (stub; replaced by the full implementation)."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Final

REDACTED: Final = "[REDACTED]"


class Redactor:
    """Decides whether a mapping key names a secret whose value must be masked."""

    __slots__ = ("keys",)

    def __init__(self, keys: Iterable[str]) -> None:
        self.keys = tuple(k.lower() for k in keys)

    def matches(self, key: str) -> bool:
        lowered = key.lower()
        return any(k in lowered for k in self.keys)


@lru_cache(maxsize=16)
def get_redactor(keys: tuple[str, ...]) -> Redactor:
    """A shared redactor for one set of keys."""
    return Redactor(keys)
