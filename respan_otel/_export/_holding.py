"""Logs waiting in memory for delivery, per dataset, with each dataset's wait after a failure.

:class:`Holding` is the memory half of :class:`~respan_otel._export._delivery.Delivery`:
what is held (bounded per dataset: the oldest go to the spool), which datasets may send
now, what fills the next request, and how each outcome changes a dataset's wait. It
never sends and never sleeps. Thread-safe.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from respan_otel._export._encode import take_request
from respan_otel._export._keeping import Keeper

BACKOFF_BASE: Final = 1.0
BACKOFF_CAP: Final = 30.0
HOLD_LIMIT: Final = 5_000
"""Logs held in memory per dataset (ten full requests); older ones go to the spool."""


@dataclass
class _Held:
    logs: deque[bytes] = field(default_factory=deque)
    not_before: float = 0.0
    failures: int = 0
    cause: str = ""
    since: float = 0.0
    """When the oldest log now held arrived (``time.monotonic()``)."""


class Holding:
    """Held logs per dataset; ``keeper`` takes what does not fit (see the module docstring)."""

    def __init__(self, keeper: Keeper, *, hold_limit: int = HOLD_LIMIT) -> None:
        self.keeper = keeper
        self.hold_limit = hold_limit
        self._held: dict[str, _Held] = {}
        self._lock = threading.Lock()

    def add(self, dataset: str, logs: Sequence[bytes]) -> None:
        """Hold ``logs`` for ``dataset``; beyond ``hold_limit`` the oldest go to the spool
        (and beyond twice that, when the spool cannot take them, they are dropped)."""
        with self._lock:
            held = self._held.setdefault(dataset, _Held())
            if not held.logs:
                held.since = time.monotonic()
            held.logs.extend(logs)
            excess = len(held.logs) - self.hold_limit
            overflow = [held.logs.popleft() for _ in range(excess)] if excess > 0 else []
        if overflow and not self.keeper.keep(dataset, overflow, "more logs waiting than are held"):
            with self._lock:
                held.logs.extendleft(reversed(overflow))
                lost = len(held.logs) - 2 * self.hold_limit
                dropped = [held.logs.popleft() for _ in range(max(0, lost))]
            if dropped:
                self.keeper.stats.add(dropped=len(dropped))
                self.keeper.notes.say(
                    "held-overflow",
                    "respan_otel: %d logs dropped: more than %d are waiting for delivery and "
                    "the spool cannot take them; make RESPAN_SPOOL_DIR writable",
                    len(dropped),
                    2 * self.hold_limit,
                    error=True,
                )

    def count(self) -> int:
        """Logs held now."""
        with self._lock:
            return sum(len(h.logs) for h in self._held.values())

    def put_back(self, dataset: str, logs: Sequence[bytes]) -> None:
        """``logs`` taken from ``dataset`` go back to the head of its queue, in order."""
        if not logs:
            return
        with self._lock:
            held = self._held.setdefault(dataset, _Held())
            if not held.logs:
                held.since = time.monotonic()
            held.logs.extendleft(reversed(logs))

    def spill(self, reason: str, *, count_loss: bool = True) -> int:
        """Put every held log in the spool; returns how many were held. What the spool
        cannot take is counted as failed (``count_loss``) or stays held."""
        batches = self._drain(failing=False)
        for dataset, logs, _ in batches:
            kept = self.keeper.keep(dataset, logs, reason, count_loss=count_loss)
            if not kept and not count_loss:
                self.put_back(dataset, logs)
        return sum(len(logs) for _, logs, _ in batches)

    def spool_failing(self) -> None:
        """Logs held because the backend fails (not merely pacing) go to the spool, so an
        outage never rests on memory alone."""
        if self.keeper.spool is None:
            return
        for dataset, logs, cause in self._drain(failing=True):
            if not self.keeper.keep(dataset, logs, cause):
                self.put_back(dataset, logs)

    def _drain(self, *, failing: bool) -> list[tuple[str, list[bytes], str]]:
        """Take every held log (of the datasets waiting after a failure, when ``failing``),
        with why each dataset last failed."""
        with self._lock:
            taken = [
                (name, list(h.logs), h.cause)
                for name, h in self._held.items()
                if h.logs and (h.failures or not failing)
            ]
            for name, _, _ in taken:
                self._held[name].logs.clear()
        return taken

    def failures(self, dataset: str) -> int:
        """Failures of ``dataset`` in a row."""
        with self._lock:
            held = self._held.get(dataset)
            return held.failures if held is not None else 0

    # -- what may go --------------------------------------------------------------------

    def ready(self, *, batch_size: int, linger: float) -> tuple[list[str], set[str]]:
        """(datasets with logs to send now, datasets waiting after a failure). With
        ``linger``, a dataset with less than ``batch_size`` waits until its oldest log
        has waited that long."""
        now = time.monotonic()
        with self._lock:
            ready = [
                n
                for n, h in self._held.items()
                if h.logs
                and h.not_before <= now
                and (len(h.logs) >= batch_size or now - h.since >= linger)
            ]
            waiting = {n for n, h in self._held.items() if h.not_before > now}
        return ready, waiting

    def next_wake(self, *, spooled: set[str]) -> float | None:
        """When the earliest dataset waiting after a failure may go, among those holding
        logs or named in ``spooled``; ``None`` when none waits for that."""
        now = time.monotonic()
        with self._lock:
            waits = [
                h.not_before
                for n, h in self._held.items()
                if h.not_before > now and (h.logs or n in spooled)
            ]
        return min(waits) if waits else None

    def take(
        self, dataset: str, spooled: list[bytes], *, batch_size: int, max_bytes: int
    ) -> list[bytes]:
        """Held logs of ``dataset`` to fill a request after ``spooled``, within the caps."""
        room = batch_size - len(spooled)
        if room <= 0:
            return []
        with self._lock:
            held = self._held.get(dataset)
            if held is None or not held.logs:
                return []
            candidates = list(itertools.islice(held.logs, room))
            fits = take_request([*spooled, *candidates], batch_size=batch_size, max_bytes=max_bytes)
            return [held.logs.popleft() for _ in range(max(0, fits - len(spooled)))]

    # -- outcomes -------------------------------------------------------------------------

    def backoff(self, dataset: str) -> float:
        """Seconds ``dataset`` waits after one more failure: doubling with the failures
        in a row, up to ``BACKOFF_CAP``, with jitter."""
        failures = self.failures(dataset)
        return min(BACKOFF_CAP, BACKOFF_BASE * 2.0**failures) * random.uniform(0.8, 1.2)

    def failed(self, dataset: str, *, wait: float, cause: str) -> None:
        """A request of ``dataset`` failed: it waits ``wait`` seconds."""
        with self._lock:
            held = self._held.setdefault(dataset, _Held())
            held.failures += 1
            held.not_before = time.monotonic() + wait
            held.cause = cause

    def succeeded(self, dataset: str) -> bool:
        """A request of ``dataset`` was accepted; ``True`` if it was failing until now."""
        with self._lock:
            held = self._held.setdefault(dataset, _Held())
            recovered = held.failures > 0
            held.failures = 0
            held.not_before = 0.0
        return recovered

    def lift_waits(self) -> None:
        """No dataset waits after a failure any more (a flush; failures still count)."""
        with self._lock:
            for held in self._held.values():
                held.not_before = 0.0

    def names(self) -> list[str]:
        """The datasets known (held now, or waiting after a failure)."""
        with self._lock:
            return list(self._held)
