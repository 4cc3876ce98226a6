"""The disk spool: logs that could not be delivered, kept in order for a later try.

Each batch becomes one file, ``<time_ns>-<pid>-<seq>.jsonl``: a header line naming the
dataset, then one log per line, exactly as it would have been sent. Files are written
to a temporary name, flushed to disk and renamed, so a crash never leaves half a batch.
Files sort by name in the order they were written; replay claims a file by renaming it,
so two processes sharing a directory never send the same batch twice, and a claim left
by a process that died is released on the next start.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from respan_otel._log import logger

SUFFIX: Final = ".jsonl"
_CLAIM: Final = ".replaying-"
_TMP: Final = ".tmp-"


@dataclass(frozen=True, slots=True)
class SpooledBatch:
    """One claimed spool file, and what it holds."""

    path: Path
    original: Path
    dataset: str
    logs: list[bytes]


class Spool:
    """A directory of spooled batches, bounded in total size."""

    def __init__(self, directory: str | os.PathLike[str], *, max_bytes: int) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self._sequence = itertools.count()
        self._released = False

    def _ensure(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)  # raises OSError if it cannot
        if not self._released:
            self._released = True
            self._release_orphans()

    def size(self) -> int:
        """Bytes currently spooled."""
        total = 0
        for path in self.directory.glob("*"):
            try:
                total += path.stat().st_size
            except OSError:
                continue
        return total

    def write(self, dataset: str, logs: Sequence[bytes]) -> bool:
        """Spool one batch atomically; ``False`` (nothing written) if it would not fit."""
        self._ensure()
        header = json.dumps({"dataset": dataset}).encode()
        payload = b"\n".join([header, *logs]) + b"\n"
        if self.size() + len(payload) > self.max_bytes:
            return False
        name = f"{time.time_ns():020d}-{os.getpid()}-{next(self._sequence):06d}{SUFFIX}"
        return self._write_file(self.directory / name, payload)

    def _write_file(self, final: Path, payload: bytes) -> bool:
        temporary = final.with_name(_TMP + final.name)
        with temporary.open("wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(final)
        return True

    def pending(self) -> list[Path]:
        """Unclaimed spool files, oldest first."""
        if not self.directory.is_dir():
            return []
        return sorted(p for p in self.directory.glob(f"*{SUFFIX}") if not p.name.startswith(_TMP))

    def claim(self) -> Iterator[SpooledBatch]:
        """Claim and read pending batches in order; unreadable files are set aside."""
        self._ensure()
        for path in self.pending():
            claimed = path.with_name(f"{path.name}{_CLAIM}{os.getpid()}")
            try:
                path.rename(claimed)
            except FileNotFoundError:
                continue  # another process took it
            except OSError as exc:
                # e.g. a read-only directory: stop replaying; newer logs keep waiting
                # behind the old ones (and are counted if they cannot be spooled either)
                logger.error("respan_otel: cannot claim spool file %s: %s", path.name, exc)
                return
            try:
                lines = claimed.read_bytes().splitlines()
                dataset = json.loads(lines[0])["dataset"]
                if not isinstance(dataset, str):
                    raise ValueError("dataset is not a string")
            except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
                broken = path.with_name(path.name + ".broken")
                claimed.replace(broken)
                logger.error("respan_otel: unreadable spool file set aside as %s: %s", broken, exc)
                continue
            yield SpooledBatch(claimed, path, dataset, [line for line in lines[1:] if line])

    def done(self, batch: SpooledBatch) -> None:
        """The batch was delivered (or finally refused): remove it."""
        batch.path.unlink(missing_ok=True)

    def put_back(self, batch: SpooledBatch, remaining: Sequence[bytes]) -> None:
        """Return the undelivered part of a claimed batch to its place in the order."""
        if remaining:
            header = json.dumps({"dataset": batch.dataset}).encode()
            self._write_file(batch.original, b"\n".join([header, *remaining]) + b"\n")
        batch.path.unlink(missing_ok=True)

    def _release_orphans(self) -> None:
        """Give back files claimed by processes that no longer exist."""
        for claimed in self.directory.glob(f"*{_CLAIM}*"):
            original_name, _, pid_text = claimed.name.rpartition(_CLAIM)
            try:
                pid = int(pid_text)
            except ValueError:
                continue
            if pid != os.getpid() and _alive(pid):
                continue
            try:
                claimed.replace(claimed.with_name(original_name))
            except OSError:
                continue
        for stale in self.directory.glob(f"{_TMP}*"):
            stale.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
