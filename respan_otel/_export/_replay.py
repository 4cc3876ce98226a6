"""The spool as delivery reads it: which datasets have batches waiting, the early tries a
flush allows, and what becomes of each claimed batch once its request is answered.

:class:`Replay` claims spooled batches for one request of a dataset (oldest first, never
more than one request), and after the answer keeps only the logs to retry (one more
attempt counted when the server failed them), or sets aside a batch that failed too
often. After a flush (:meth:`Replay.wake_keys`) each dataset's oldest waiting batch may
go before its time, once; a success makes all of that dataset's waiting batches due.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Collection

from respan_otel._export._keeping import Keeper
from respan_otel._export._sender import SendResult
from respan_otel._export._spool import Spool, dataset_key
from respan_otel._export._spool_file import Claim


class Replay:
    """Claims and finishes spooled batches for :class:`~respan_otel._export._delivery.Delivery`."""

    def __init__(self, spool: Spool, keeper: Keeper) -> None:
        self.spool = spool
        self.keeper = keeper
        self._early: set[str] = set()
        """Spool keys whose oldest batch may go before its time (one try each)."""

    def keys(self) -> deque[str]:
        """The dataset keys with batches in the spool."""
        return deque(self.spool.pending_keys())

    def wake_keys(self, keys: deque[str]) -> deque[str]:
        """A flush: every spooled dataset is visited again, with one early try each."""
        pending = self.spool.pending_keys()
        self._early = set(pending)
        return deque([*keys, *(key for key in pending if key not in keys)])

    def claim(
        self, key: str, dataset: str | None, *, max_logs: int, max_bytes: int
    ) -> tuple[str | None, list[Claim]]:
        """Batches of spool ``key`` for one request (of ``dataset``, or of the dataset of
        the oldest batch when ``None``); returns that dataset and the claims."""
        early = key in self._early
        self._early.discard(key)
        try:
            claims = self.spool.claim(key, max_logs=max_logs, max_bytes=max_bytes, early=early)
        except OSError as exc:
            self.keeper.notes.say("spool-read", "respan_otel: the spool cannot be read: %s", exc)
            return dataset, []
        if dataset is None and claims:
            dataset = claims[0].dataset
        for other in [c for c in claims if c.dataset != dataset]:
            self.spool.finish(other, other.logs)  # a key shared by two names: later
        return dataset, [c for c in claims if c.dataset == dataset]

    @staticmethod
    def release(claims: list[Claim]) -> None:
        """Let go of ``claims`` untouched: they go again next time."""
        for claim in claims:
            claim.handle.close()

    def finish(
        self, dataset: str, claims: list[Claim], result: SendResult, retry: Collection[int]
    ) -> None:
        """Apply ``result`` to ``claims`` (the first logs of the request, in order): keep
        only the logs of indices in ``retry``; a batch the server failed too often is
        refused for good (dead-lettered)."""
        start = 0
        for claim in claims:
            indices = range(start, start + len(claim.logs))
            remaining = [claim.logs[i - start] for i in indices if i in retry]
            start += len(claim.logs)
            try:
                exhausted = self.spool.finish(
                    claim, remaining, failed_attempt=result.server_failed and bool(remaining)
                )
            except OSError as exc:
                self.keeper.notes.say(
                    "spool-write", "respan_otel: the spool cannot be written: %s", exc
                )
                continue
            if exhausted:
                why = f"the server failed it {claim.attempts + 1} times: {result.cause}"
                self.keeper.refuse(dataset, [(line, why) for line in remaining])

    def recovered(self, dataset: str) -> None:
        """The backend takes ``dataset``'s logs again: its waiting batches are due."""
        with contextlib.suppress(OSError):
            self.spool.wake(dataset_key(dataset))
