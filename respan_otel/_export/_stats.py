"""What happened to the logs an exporter saw: counters, safe to share between threads."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from typing import Final

COUNTERS: Final = (
    "exported",
    "failed",
    "dropped",
    "spooled",
    "replayed",
    "dead_lettered",
    "skipped_spans",
    "incomplete_totals",
    "requests",
    "rate_limited",
)
"""The counters of :class:`ExportStats`, in the order :meth:`ExportStats.snapshot` gives."""


class ExportStats:
    """Delivery counters. Read them with :meth:`snapshot`.

    - ``exported``: accepted by the API.
    - ``failed``: refused by the API, or undeliverable with nowhere to keep them.
    - ``dropped``: never sent: no dataset, larger than a request may be, ``before_send``
      said so or failed, a full queue, or nowhere to keep them at exit.
    - ``spooled``: written to the spool directory for a later try (counted again as
      ``exported`` when a replay delivers them).
    - ``replayed``: logs read back from the spool and delivered.
    - ``dead_lettered``: refused for good, or failing too often, and set aside in the
      spool's ``dead/`` directory (also counted in ``failed``).
    - ``skipped_spans``: spans that are not rows (HTTP, DB, filtered by ``rows``...);
      :meth:`skipped` gives them per reason.
    - ``incomplete_totals``: rows sent with only part of their run totals (their
      metadata says ``totals_incomplete``): the totals waiting for them were dropped
      because too many runs were open at once or one stayed open too long.
    - ``requests``: bulk requests sent; ``rate_limited``: 429 answers among them.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        self._skipped: Counter[str] = Counter()

    def add(self, **counts: int) -> None:
        """Add to counters by name (``stats.add(exported=3)``)."""
        with self._lock:
            for name, value in counts.items():
                if name not in self._counts:
                    raise KeyError(f"no counter named {name!r}")
                self._counts[name] += value

    def skip(self, reasons: Mapping[str, int]) -> None:
        """Count spans that are not rows, per reason."""
        with self._lock:
            for reason, count in reasons.items():
                self._skipped[reason] += count
                self._counts["skipped_spans"] += count

    def snapshot(self) -> dict[str, int]:
        """The counters now, as a plain dict."""
        with self._lock:
            return dict(self._counts)

    def skipped(self) -> dict[str, int]:
        """Spans that are not rows, per reason (``no-content``, ``not-root``, ...)."""
        with self._lock:
            return dict(self._skipped)

    def __getitem__(self, name: str) -> int:
        with self._lock:
            return self._counts[name]

    def __repr__(self) -> str:
        return f"ExportStats({self.snapshot()})"
