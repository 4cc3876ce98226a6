"""A one-line progress bar on a terminal; silent anywhere else."""

from __future__ import annotations

import os
import sys
import time
from typing import Final, TextIO

_WIDTH: Final = 24
_MIN_INTERVAL: Final = 0.1  # seconds between redraws, so fast rows do not flood the terminal


def wanted(progress: bool | None, stream: TextIO | None = None) -> bool:
    """``progress`` when given; by default only on a terminal and never under pytest."""
    if progress is not None:
        return progress
    if "PYTEST_CURRENT_TEST" in os.environ:
        return False
    target = stream or sys.stderr
    try:
        return target.isatty()
    except (AttributeError, ValueError):  # replaced or closed streams
        return False


class ProgressBar:
    """``[#####.....] 12/50 rows, 1 error`` redrawn in place on stderr."""

    def __init__(self, name: str, total: int, stream: TextIO | None = None) -> None:
        self._name = name
        self._total = total
        self._stream = stream or sys.stderr
        self._done = 0
        self._errors = 0
        self._last = 0.0

    def advance(self, *, failed: bool) -> None:
        self._done += 1
        self._errors += failed
        now = time.monotonic()
        if now - self._last >= _MIN_INTERVAL or self._done == self._total:
            self._last = now
            self._draw()

    def _draw(self) -> None:
        filled = _WIDTH * self._done // self._total if self._total else _WIDTH
        errors = f", {self._errors} error{'s' if self._errors != 1 else ''}" if self._errors else ""
        line = f"\r{self._name} [{'#' * filled}{'.' * (_WIDTH - filled)}] "
        try:
            self._stream.write(f"{line}{self._done}/{self._total} rows{errors}")
            self._stream.flush()
        except (OSError, ValueError):  # the terminal went away: keep running quietly
            pass

    def close(self) -> None:
        try:
            self._stream.write("\n")
            self._stream.flush()
        except (OSError, ValueError):
            pass
