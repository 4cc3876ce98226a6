"""The gateway's journal: every accepted OTLP request, on disk before it is acknowledged.

One file per request, ``<sequence>-<spans>.otlp``, holding the request as protobuf. It is
written under a temporary name, fsynced, renamed, and the directory fsynced, so once
:meth:`Journal.append` returns the request survives a crash of the process or the
machine. Delivery reads files oldest first and removes them only once their rows are
delivered or in the exporter's spool; after a crash, whatever is still here is
delivered on the next start (at least once: a request delivered just before the crash,
whose file was not yet removed, is sent again).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from respan_otel._log import logger

SUFFIX: Final = ".otlp"
_TMP: Final = ".tmp-"
_BROKEN: Final = ".broken"


class JournalFullError(Exception):
    """Accepting the request would take the journal past its size cap."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One journalled request."""

    path: Path
    sequence: int
    spans: int
    size: int
    arrived: float
    """``time.monotonic()`` when it was written; 0 for files found at start."""


class Journal:
    """A directory of journalled requests, bounded to ``max_bytes`` in total."""

    def __init__(self, directory: str | os.PathLike[str], *, max_bytes: int) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self._entries: dict[int, Entry] = {}
        self._reserved = 0
        self._bytes = 0
        self._spans = 0
        self._next = 0
        self._lock = threading.RLock()  # delivery reads the gauges while holding `arrived`
        self.arrived = threading.Condition(self._lock)
        """Notified when an entry is added (delivery waits on it)."""

    def open(self) -> None:
        """Create the directory (private to this user), clear temporaries, index what is left."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        for stale in self.directory.glob(f"{_TMP}*"):
            stale.unlink(missing_ok=True)  # never acknowledged: its client was told to retry
        found = 0
        for path in self.directory.glob(f"*{SUFFIX}"):
            entry = _parse_name(path)
            if entry is None:
                continue
            self._add_locked(entry)
            self._next = max(self._next, entry.sequence + 1)
            found += entry.spans
        if found:
            logger.info(
                "respan_otel gateway: %d journalled spans from a previous run will be delivered",
                found,
            )

    # -- the receiving side --------------------------------------------------------------

    def append(self, payload: bytes, spans: int) -> Entry:
        """Write one request durably. Raises :class:`JournalFullError` or ``OSError``."""
        size = len(payload)
        with self._lock:
            if self._bytes + self._reserved + size > self.max_bytes:
                raise JournalFullError
            self._reserved += size
            sequence = self._next
            self._next += 1
        final = self.directory / f"{sequence:020d}-{spans}{SUFFIX}"
        temporary = final.with_name(_TMP + final.name)
        try:
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                view = memoryview(payload)
                while view:  # os.write may write less than asked
                    view = view[os.write(descriptor, view) :]
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
            temporary.replace(final)
            self._sync_directory()
        except OSError:
            temporary.unlink(missing_ok=True)
            with self._lock:
                self._reserved -= size
            raise
        entry = Entry(final, sequence, spans, size, time.monotonic())
        with self._lock:
            self._reserved -= size
            self._add_locked(entry)
            self.arrived.notify_all()
        return entry

    def _sync_directory(self) -> None:
        """Make the rename itself durable (a file's fsync does not cover its name)."""
        descriptor = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

    # -- the delivering side -------------------------------------------------------------

    def unread(self, read: set[int], max_spans: int) -> list[Entry]:
        """The oldest entries not in ``read``, up to ``max_spans`` spans (at least one)."""
        with self._lock:
            ordered = sorted(
                (entry for entry in self._entries.values() if entry.sequence not in read),
                key=lambda entry: entry.sequence,
            )
        taken: list[Entry] = []
        total = 0
        for entry in ordered:
            if taken and total + entry.spans > max_spans:
                break
            taken.append(entry)
            total += entry.spans
        return taken

    def remove(self, entries: Iterable[Entry]) -> None:
        """Their rows are delivered or spooled: forget them."""
        removed = False
        for entry in entries:
            entry.path.unlink(missing_ok=True)
            with self._lock:
                removed = self._drop_locked(entry) or removed
        if removed:
            self._sync_directory()

    def set_aside(self, entry: Entry, reason: str) -> None:
        """A file that cannot be read is renamed ``*.broken`` for a person to look at."""
        broken = entry.path.with_name(entry.path.name + _BROKEN)
        try:
            entry.path.replace(broken)
        except OSError as exc:
            logger.error("respan_otel gateway: cannot set aside %s: %s", entry.path, exc)
        with self._lock:
            self._drop_locked(entry)
        logger.error(
            "respan_otel gateway: journal file %s is unreadable (%s); its %d spans are not "
            "delivered and the file is kept as %s (inspect or delete it)",
            entry.path.name,
            reason,
            entry.spans,
            broken.name,
        )

    # -- gauges --------------------------------------------------------------------------

    def _add_locked(self, entry: Entry) -> None:
        self._entries[entry.sequence] = entry
        self._bytes += entry.size
        self._spans += entry.spans

    def _drop_locked(self, entry: Entry) -> bool:
        if self._entries.pop(entry.sequence, None) is None:
            return False
        self._bytes -= entry.size
        self._spans -= entry.spans
        return True

    @property
    def queued_bytes(self) -> int:
        return self._bytes

    @property
    def queued_spans(self) -> int:
        return self._spans

    @property
    def oldest_arrival(self) -> float | None:
        with self._lock:
            if not self._entries:
                return None
            return min(entry.arrived for entry in self._entries.values())

    def full(self) -> bool:
        """Within 1 % of the cap: readiness turns false so balancers route elsewhere."""
        return self.queued_bytes >= self.max_bytes * 0.99


def _parse_name(path: Path) -> Entry | None:
    stem = path.name[: -len(SUFFIX)]
    sequence_text, _, spans_text = stem.partition("-")
    try:
        return Entry(path, int(sequence_text), int(spans_text), path.stat().st_size, 0.0)
    except (ValueError, OSError):
        logger.warning("respan_otel gateway: ignoring unexpected file %s in the journal", path)
        return None
