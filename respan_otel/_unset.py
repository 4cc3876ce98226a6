"""The marker for an argument that was not given, where ``None`` is a legitimate value."""

from __future__ import annotations

from typing import Final


class _Unset:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Final = _Unset()
