"""What becomes of logs that cannot go now: the spool, the dead letters, and the lines
that say so (the first of a kind at WARNING or ERROR, naming the cause and the fix)."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from respan_otel._datasets import dataset_id_of, is_dataset_id
from respan_otel._export._spool import Spool
from respan_otel._export._stats import ExportStats
from respan_otel._log import logger


class Notes:
    """Log lines about delivery: the first of a kind at WARNING (or ERROR), then DEBUG."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def say(self, key: str, message: str, *args: object, error: bool = False) -> None:
        with self._lock:
            first = key not in self._seen
            self._seen.add(key)
        if first:
            (logger.error if error else logger.warning)(message, *args)
        else:
            logger.debug(message, *args)


class Keeper:
    """Spools what must wait, sets aside what was refused, counts and tells both."""

    def __init__(self, spool: Spool | None, stats: ExportStats, notes: Notes) -> None:
        self.spool = spool
        self.stats = stats
        self.notes = notes

    def keep(
        self, dataset: str, logs: Sequence[bytes], reason: str, *, count_loss: bool = False
    ) -> bool:
        """Spool ``logs``; ``False`` when they could not be (counted when ``count_loss``)."""
        problem = "no spool is configured (RESPAN_SPOOL_DIR is off)"
        if self.spool is not None:
            try:
                if self.spool.write(dataset, logs):
                    self.stats.add(spooled=len(logs))
                    self.notes.say(
                        f"spooled:{reason}",
                        "respan_otel: %d logs not delivered yet (%s); spooled in %s and sent "
                        "by the next export or process (`respan-otel spool flush` sends them now)",
                        len(logs),
                        reason,
                        self.spool.directory,
                    )
                    return True
                problem = f"the spool is full (RESPAN_SPOOL_MAX_BYTES={self.spool.max_bytes})"
            except OSError as exc:
                problem = f"the spool cannot be written ({exc}); set RESPAN_SPOOL_DIR"
        if count_loss:
            self.stats.add(failed=len(logs))
            self.notes.say(
                f"lost:{problem}",
                "respan_otel: %d logs lost: %s and %s; raise RESPAN_SHUTDOWN_TIMEOUT_SECONDS "
                "or fix the spool",
                len(logs),
                reason,
                problem,
                error=True,
            )
        return False

    def refuse(self, dataset: str, items: list[tuple[bytes, str]]) -> None:
        """Logs the API will never take: counted failed, set aside, told once per cause."""
        by_reason: dict[str, list[bytes]] = {}
        for line, why in items:
            by_reason.setdefault(why, []).append(line)
        for why, lines in by_reason.items():
            self.stats.add(failed=len(lines))
            spool = self.spool
            if spool is not None and spool.dead_letter(dataset, lines, why):
                self.stats.add(dead_lettered=len(lines))
                where = (
                    f"set aside in {spool.directory}/dead (after fixing the cause, "
                    "`respan-otel spool flush --requeue-dead` sends them)"
                )
            else:
                where = "not kept (no writable spool)"
            self.notes.say(
                f"refused:{dataset}:{why[:80]}",
                "respan_otel: %d logs for dataset %r refused: %s; %s",
                len(lines),
                dataset_id_of(dataset) if is_dataset_id(dataset) else dataset,
                why,
                where,
                error=True,
            )
