"""The disk spool: logs that could not be delivered yet, kept for a later try.

Layout under the spool directory (0700; files 0600)::

    <dataset key>/<time_ns>-<random>.jsonl   pending batches, one directory per dataset
    dead/<time_ns>-<random>.jsonl            refused for good, or failing too often

Each file is one batch (:mod:`._spool_file`: format, atomic write, claim by lock); a
modification time in the future means the file waits after a failed try. Temporary
files are locked by their writer, so a starting process only removes those nobody holds.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Final

from respan_otel._export._spool_file import (
    SUFFIX,
    TMP,
    Claim,
    UnreadableFileError,
    claim_file,
    payload,
    remove_abandoned_temporaries,
    write_file,
)

DEAD: Final = "dead"
MAX_ATTEMPTS: Final = 10
"""Tries a spooled batch gets while the server keeps failing it (5xx, 408) before it is
moved to ``dead/``: with the waits below, about half an hour."""
_RETRY_BASE_SECONDS: Final = 5.0
_RETRY_CAP_SECONDS: Final = 600.0
_SIZE_RECOUNT_SECONDS: Final = 30.0


def dataset_key(dataset: str) -> str:
    """The directory name of a dataset (ids and names may hold any character)."""
    return hashlib.sha256(dataset.encode()).hexdigest()[:16]


def _is_batch(path: Path) -> bool:
    """A batch file, not a writer's temporary one (whose name ends the same)."""
    return path.name.endswith(SUFFIX) and not path.name.startswith(TMP)


def _batches(folder: Path) -> Iterator[Path]:
    return (path for path in folder.iterdir() if _is_batch(path))


class Spool:
    """A directory of spooled batches, bounded in total size. Thread-safe per file."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        max_bytes: int,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.max_attempts = max_attempts
        self._size: int | None = None
        self._counted_at = 0.0
        self._cleaned = False
        self._finished: set[tuple[int, int]] = set()
        """Files this process finished but could not remove (a read-only spool): never
        sent again by it."""

    # -- writing -----------------------------------------------------------------------

    def ensure(self) -> None:
        """Create the directory (0700) or raise ``OSError``; clean stale temp files once."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not self._cleaned:
            self._cleaned = True
            remove_abandoned_temporaries(self.directory)

    def write(self, dataset: str, logs: Sequence[bytes], *, attempts: int = 0) -> bool:
        """Spool one batch atomically; ``False`` (nothing written) if it would not fit.

        Raises ``OSError`` when the directory cannot be written (read-only, missing)."""
        header = {"dataset": dataset, "attempts": attempts}
        return self._write(self.directory / dataset_key(dataset), header, logs)

    def dead_letter(self, dataset: str, logs: Sequence[bytes], reason: str) -> bool:
        """Set logs aside for good, with the reason; ``False`` when it cannot."""
        header = {"dataset": dataset, "reason": reason, "dead_at": time.time()}
        try:
            return self._write(self.directory / DEAD, header, logs)
        except OSError:
            return False

    def _write(self, folder: Path, header: dict[str, Any], logs: Sequence[bytes]) -> bool:
        if not logs:
            return True
        self.ensure()
        content = payload(header, logs)
        if self.size() + len(content) > self.max_bytes:
            return False
        folder.mkdir(mode=0o700, exist_ok=True)
        name = f"{time.time_ns():020d}-{secrets.token_hex(6)}{SUFFIX}"
        write_file(folder / name, content)
        self._size = self.size() + len(content)
        return True

    def size(self) -> int:
        """Bytes spooled (recounted from disk now and then; other processes write too)."""
        now = time.monotonic()
        if self._size is None or now - self._counted_at > _SIZE_RECOUNT_SECONDS:
            self._size, self._counted_at = sum(self._sizes()), now
        return self._size

    def _sizes(self) -> Iterator[int]:
        for path in self._files(include_dead=True):
            with contextlib.suppress(OSError):
                yield path.stat().st_size

    # -- reading -----------------------------------------------------------------------

    def _files(self, *, include_dead: bool = False) -> Iterator[Path]:
        if not self.directory.is_dir():
            return
        for folder in self.directory.iterdir():
            if folder.name == DEAD and not include_dead:
                continue
            if folder.is_dir():
                yield from _batches(folder)
            elif _is_batch(folder):
                yield folder  # a batch written by an older version, at the top level

    def pending_keys(self) -> list[str]:
        """Dataset keys with spooled files (``""`` for top-level files of old versions)."""
        keys = set()
        for path in self._files():
            keys.add("" if path.parent == self.directory else path.parent.name)
        return sorted(keys)

    def pending(self) -> list[Path]:
        """Pending spool files of every dataset, oldest first."""
        return sorted(self._files(), key=lambda p: p.name)

    def claim(
        self, key: str | None, *, max_logs: int, max_bytes: int, early: bool = False
    ) -> list[Claim]:
        """Lock and read the oldest files of dataset ``key`` (``None``: any) that are due
        (with ``early``, those waiting after a failed try too), as long as they fit
        ``max_logs`` and ``max_bytes`` together (the first always)."""
        if key is None:
            paths = self.pending()
        else:
            folder = self.directory / key if key else self.directory
            paths = sorted(_batches(folder), key=lambda p: p.name) if folder.is_dir() else []
        claims: list[Claim] = []
        logs = size = 0
        now = time.time()
        for path in paths:
            if claims and (key is None or logs >= max_logs or size >= max_bytes):
                break
            try:
                due = path.stat().st_mtime
            except OSError:
                continue
            if due > now and not early:
                continue  # waiting after a failed try (see finish)
            claim = self._claim(path)
            if claim is None:
                continue
            if due > now:
                claim.waiting_until = due
            batch_bytes = claim.request_bytes
            if not claims and (len(claim.logs) > max_logs or batch_bytes > max_bytes):
                split = self._split(claim, max_logs, max_bytes)  # more than one request
                if split is None:
                    continue
                claim, batch_bytes = split, split.request_bytes
            if claims and (logs + len(claim.logs) > max_logs or size + batch_bytes > max_bytes):
                # the request is not full: the file is split to fill it (requests are few)
                room = (max_logs - logs, max_bytes - size)
                first = self._split(claim, max_logs, max_bytes, room=room)
                if first is not None:
                    if len(first.logs) <= room[0] and first.request_bytes <= room[1]:
                        claims.append(first)
                    else:
                        first.handle.close()  # a single log larger than the room
                break
            claims.append(claim)
            logs, size = logs + len(claim.logs), size + batch_bytes
        return claims

    def _split(
        self, claim: Claim, max_logs: int, max_bytes: int, *, room: tuple[int, int] | None = None
    ) -> Claim | None:
        """A file holding more than one request (or more than the ``room``, in logs and
        bytes, left in one): rewritten as files of one request each, the first only as
        large as the room, in its place in the order; the first of them is claimed."""
        parts: list[list[bytes]] = [[]]
        size = 0
        caps = room or (max_logs, max_bytes)
        for line in claim.logs:
            if parts[-1] and (len(parts[-1]) >= caps[0] or size + len(line) + 1 > caps[1]):
                parts.append([])
                size = 0
                caps = (max_logs, max_bytes)
            parts[-1].append(line)
            size += len(line) + 1
        header = {"dataset": claim.dataset, "attempts": claim.attempts}
        stem = claim.path.name[: -len(SUFFIX)]
        # "<stem>-0001.jsonl" sorts just before "<stem>.jsonl": the parts keep its place
        paths = [claim.path.with_name(f"{stem}-{i:04d}{SUFFIX}") for i in range(len(parts))]
        for path, part in zip(paths, parts, strict=True):
            write_file(path, payload(header, part))
            if claim.waiting_until:  # claimed early: the parts keep waiting as it did
                os.utime(path, (claim.waiting_until, claim.waiting_until))
        claim.path.unlink(missing_ok=True)
        claim.handle.close()
        first = self._claim(paths[0])
        if first is not None:
            first.waiting_until = claim.waiting_until
        return first

    def _claim(self, path: Path) -> Claim | None:
        try:
            return claim_file(path, done=self._finished)
        except UnreadableFileError as unreadable:
            self._set_aside(path, unreadable.handle)
            return None

    def _set_aside(self, path: Path, handle: Any) -> None:
        """An unreadable file goes to ``dead/`` as is, so it can be looked at."""
        with contextlib.suppress(OSError):
            (self.directory / DEAD).mkdir(mode=0o700, exist_ok=True)
            path.replace(self.directory / DEAD / (path.name + ".unreadable"))
        handle.close()

    def finish(
        self, claim: Claim, remaining: Sequence[bytes], *, failed_attempt: bool = False
    ) -> bool:
        """Release a claim: delete the file, or keep only ``remaining`` (with one more
        attempt counted when ``failed_attempt``, unless the claim was early: a try before
        its time counts as none and leaves it waiting). ``True`` if the batch must now
        be dead-lettered by the caller (it failed ``max_attempts`` times)."""
        try:
            if not remaining:
                self._remove(claim)
                return False
            counted = failed_attempt and not claim.waiting_until
            attempts = claim.attempts + (1 if counted else 0)
            if attempts >= self.max_attempts:
                self._remove(claim)
                return True
            if counted or len(remaining) != len(claim.logs):
                wait = min(_RETRY_CAP_SECONDS, _RETRY_BASE_SECONDS * 2 ** max(0, attempts - 1))
                due = time.time() + wait if counted else claim.waiting_until
                header = {"dataset": claim.dataset, "attempts": attempts}
                # same name: same place in the order
                write_file(claim.path, payload(header, remaining))
                if due:
                    # the file's time says when it is due: a replay skips it with one stat
                    os.utime(claim.path, (due, due))
            return False
        finally:
            claim.handle.close()

    def _remove(self, claim: Claim) -> None:
        try:
            claim.path.unlink(missing_ok=True)
        except OSError:
            opened = os.fstat(claim.handle.fileno())
            self._finished.add((opened.st_dev, opened.st_ino))
            raise

    # -- looking at it -----------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Pending and dead batches and logs, per dataset, and bytes used."""
        datasets: dict[str, dict[str, int]] = {}
        dead = {"files": 0, "logs": 0}
        for path in self._files(include_dead=True):
            try:
                lines = path.read_bytes().splitlines()
                name = str(json.loads(lines[0]).get("dataset", "?"))
            except (OSError, ValueError, IndexError, AttributeError):
                continue
            count = sum(1 for line in lines[1:] if line)
            if path.parent.name == DEAD:
                dead["files"] += 1
                dead["logs"] += count
            else:
                entry = datasets.setdefault(name, {"files": 0, "logs": 0})
                entry["files"] += 1
                entry["logs"] += count
        return {
            "directory": str(self.directory),
            "bytes": sum(self._sizes()),
            "datasets": datasets,
            "dead": dead,
        }

    def wake(self, key: str | None = None) -> None:
        """Make batches (of dataset ``key``; ``None``: all) waiting after a failed try
        due now."""
        now = time.time()
        folder = self.directory / key if key else None
        if folder is None:
            paths: Iterable[Path] = self._files()
        else:
            paths = _batches(folder) if folder.is_dir() else ()
        for path in paths:
            with contextlib.suppress(OSError):
                if path.stat().st_mtime > now:
                    os.utime(path, (now, now))

    def requeue_dead(self) -> int:
        """Move dead-lettered batches back to pending (after the cause was fixed)."""
        moved = 0
        folder = self.directory / DEAD
        for path in sorted(_batches(folder)) if folder.is_dir() else []:
            try:
                lines = path.read_bytes().splitlines()
                dataset = json.loads(lines[0])["dataset"]
                if self.write(dataset, [line for line in lines[1:] if line]):
                    path.unlink()
                    moved += 1
            except (OSError, ValueError, KeyError, IndexError, TypeError):
                continue
        return moved
