"""One spool file: its format, its atomic write, and its claim (an exclusive lock).

A file is a header line (``{"dataset": ..., "attempts": n}``) then one encoded log per
line. It is written under a temporary name (locked by its writer), flushed and renamed,
so a crash never leaves half a batch. A reader claims a file with an exclusive
``flock`` and re-checks, once locked, that the path still names the file it opened: the
kernel releases the lock when its holder dies, and the lock works across processes, PID
namespaces and exporters of one process alike.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: claims are then only safe in one process
    fcntl = None  # type: ignore[assignment]

SUFFIX: Final = ".jsonl"
TMP: Final = ".tmp-"


def lock(handle: Any) -> bool:
    """Take an exclusive lock on an open file without waiting; ``False`` if held."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


@dataclass
class Claim:
    """One spool file, locked by this process until :meth:`Spool.finish` releases it."""

    path: Path
    dataset: str
    logs: list[bytes]
    attempts: int
    handle: Any = field(repr=False)
    waiting_until: float = 0.0
    """When the file was due (a ``time.time()`` reading) if it was claimed early, while
    waiting after a failed try (``claim(early=True)``, a flush); 0 otherwise."""

    @property
    def request_bytes(self) -> int:
        """Bytes its logs take in a request: each one, and a separator."""
        return sum(len(line) + 1 for line in self.logs)


class UnreadableFileError(Exception):
    """A file whose header cannot be read; ``handle`` still holds its lock."""

    def __init__(self, handle: Any) -> None:
        super().__init__("unreadable spool file")
        self.handle = handle


def payload(header: Mapping[str, Any], logs: Sequence[bytes]) -> bytes:
    """The bytes of a file: the header line, then one log per line."""
    return b"\n".join([json.dumps(header).encode(), *logs]) + b"\n"


def write_file(final: Path, content: bytes) -> None:
    """Write ``final`` atomically (0600): a temporary file, locked, flushed, renamed."""
    temporary = final.with_name(TMP + final.name)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        lock(handle)  # so a starting process never removes it mid-write
        try:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
            temporary.replace(final)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise


def claim_file(path: Path, *, done: Collection[tuple[int, int]]) -> Claim | None:
    """Lock and read ``path``; ``None`` if another holds it, it was replaced or removed
    meanwhile, or it is one of ``done`` (``(st_dev, st_ino)``). Raises
    :class:`UnreadableFileError` for a file whose header cannot be read."""
    try:
        handle = path.open("rb")
    except OSError:
        return None  # taken and finished by someone else
    try:
        if not lock(handle):
            handle.close()
            return None  # another process (or exporter) holds it
        opened = os.fstat(handle.fileno())
        if opened.st_ino != path.stat().st_ino or (opened.st_dev, opened.st_ino) in done:
            handle.close()
            return None  # replaced or removed while we waited for the lock, or done
        lines = handle.read().splitlines()
    except OSError:
        handle.close()
        return None
    try:
        header = json.loads(lines[0])
        dataset = header["dataset"]
        if not isinstance(dataset, str) or not dataset:
            raise ValueError("no dataset in the header")
        attempts = int(header.get("attempts", 0))
    except (ValueError, KeyError, IndexError, TypeError):
        raise UnreadableFileError(handle) from None
    return Claim(path, dataset, [line for line in lines[1:] if line], attempts, handle)


def remove_abandoned_temporaries(directory: Path) -> None:
    """Remove the temporary files under ``directory`` whose writer died (nobody holds
    their lock, and they are over a minute old)."""
    if fcntl is None:
        return  # no locks: a live writer's file cannot be told apart
    for folder in [directory, *(p for p in directory.iterdir() if p.is_dir())]:
        for stale in folder.glob(f"{TMP}*"):
            with contextlib.suppress(OSError), stale.open("rb") as handle:
                # a writer locks its file right after creating it: only an old file
                # nobody holds is abandoned
                old = time.time() - os.fstat(handle.fileno()).st_mtime > 60
                if old and lock(handle):
                    stale.unlink()
