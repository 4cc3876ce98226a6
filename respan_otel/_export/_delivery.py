"""Delivery: logs held per dataset, sent when a pacing slot is granted, never lost.

:class:`Delivery` is the part of the exporter that decides *when*: it holds encoded logs
per dataset, and on :meth:`Delivery.deliver` (with an explicit deadline) takes a pacing
slot, builds the request from everything waiting for one dataset (spooled logs first,
up to 500 logs and the byte cap), sends it through :class:`BulkSender` and applies the
outcome of each log: accepted, refused for good (set aside in the spool's ``dead/``),
or retried later (held, with that dataset alone waiting what the server asked).
Datasets never wait on each other. What is still held at the deadline stays held (up
to ``hold_limit`` logs per dataset, the rest goes to the spool), and :meth:`spill`
puts it all in the spool at exit.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from respan_otel._export._holding import HOLD_LIMIT, Holding
from respan_otel._export._keeping import Keeper, Notes
from respan_otel._export._pacer import RequestPacer
from respan_otel._export._replay import Replay
from respan_otel._export._resolver import DatasetResolver, ResolveError
from respan_otel._export._sender import BulkSender, SendResult
from respan_otel._export._spool import Spool, dataset_key
from respan_otel._export._spool_file import Claim
from respan_otel._export._stats import ExportStats

_SLICE_SECONDS: Final = 0.25
_RATE_LIMIT_FIX: Final = (
    "Respan allows 30 bulk requests/min shared by the organization; logs are held and "
    "retried, and spooled at exit (RESPAN_SPOOL_DIR) for the next process"
)


@dataclass
class Report:
    """What one :meth:`Delivery.deliver` call did."""

    delivered: int = 0
    refused: int = 0
    lost: int = 0


class Delivery:
    """Holds logs per dataset and delivers them; see the module docstring."""

    def __init__(
        self,
        *,
        sender: BulkSender,
        resolver: DatasetResolver,
        pacer: RequestPacer,
        spool: Spool | None,
        stats: ExportStats,
        batch_size: int,
        max_request_bytes: int,
        hold_limit: int = HOLD_LIMIT,
        notes: Notes | None = None,
    ) -> None:
        self.sender = sender
        self.resolver = resolver
        self.pacer = pacer
        self.spool = spool
        self.stats = stats
        self.batch_size = batch_size
        self.max_request_bytes = max_request_bytes
        self.notes = notes or Notes()
        self.keeper = Keeper(spool, stats, self.notes)
        self.holding = Holding(self.keeper, hold_limit=hold_limit)
        self.replay = Replay(spool, self.keeper) if spool is not None else None
        self._lock = threading.Lock()
        self._run_lock = threading.Lock()
        self._turn = 0
        self._in_flight: tuple[str, list[bytes]] | None = None
        self._abandoned = False
        self._woken = False

    # -- holding ------------------------------------------------------------------------

    def add(self, dataset: str, logs: Sequence[bytes]) -> None:
        """Hold ``logs`` for ``dataset``; beyond the hold limit the oldest go to the spool."""
        self.holding.add(dataset, logs)

    def held(self) -> int:
        """Logs held in memory now."""
        return self.holding.count()

    def wake(self) -> None:
        """A flush: what waits after a failure may go now (the backend may be back).

        Held logs lose their backoff; each spooled dataset gets one try of its oldest
        waiting batch (a try before its time counts as none), and once a request of a
        dataset succeeds, all its waiting batches are due. A 429's wait still holds (the
        pacer keeps it). Cheap: the delivery loop does it at its next turn."""
        with self._lock:
            self._woken = True

    def abandon(self) -> tuple[str, list[bytes]] | None:
        """Give up on the request in flight (at exit): its outcome will not be counted;
        returns its dataset and logs so the caller can keep them."""
        with self._lock:
            self._abandoned = True
            in_flight, self._in_flight = self._in_flight, None
        return in_flight

    def keep(self, dataset: str, logs: Sequence[bytes], reason: str) -> None:
        """Spool ``logs``, or count them as failed with a line saying why."""
        self.keeper.keep(dataset, logs, reason, count_loss=True)

    def spill(self, reason: str, *, count_loss: bool = True) -> int:
        """Put every held log in the spool; returns how many were held. What the spool
        cannot take is counted as failed (``count_loss``) or stays held."""
        return self.holding.spill(reason, count_loss=count_loss)

    # -- delivering -----------------------------------------------------------------------

    def deliver(
        self,
        *,
        deadline: float,
        stop: threading.Event,
        refill: Callable[[], None] | None = None,
        replay: bool = True,
        linger: float = 0.0,
        bounded: bool = True,
    ) -> Report:
        """Send what is held (and spooled, when ``replay``) until done or ``deadline``.

        With ``linger``, a dataset with less than a full request waits until its oldest
        log has waited that long (requests are few: 30 a minute for an organization).
        ``bounded``: see :meth:`BulkSender.send`."""
        report = Report()
        if not self._run_lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            return report
        try:
            keys = self.replay.keys() if replay and self.replay is not None else deque()
            while not stop.is_set():
                now = time.monotonic()
                if now >= deadline:
                    break
                if self._woken and replay:  # a flush's round (or a replaying export)
                    keys = self._wake(keys)
                if refill is not None:
                    refill()
                work = self._next(keys, linger)
                if work is None:
                    wake = self.holding.next_wake(spooled=self._named(keys))
                    if wake is None or wake >= deadline:
                        break
                    # short waits, so what arrives meanwhile is taken in (refill)
                    stop.wait(min(_SLICE_SECONDS, max(0.0, wake - now)))
                    continue
                dataset, key = work
                if not self.sender.has_time(deadline):
                    break
                delay = self.pacer.wait_time()
                if delay > 0:
                    if key is not None and dataset is None:
                        keys.appendleft(key)
                    if now + delay >= deadline:
                        break
                    stop.wait(min(_SLICE_SECONDS, delay))
                    continue
                if not self.pacer.acquire(deadline=deadline, stop=stop):
                    break
                if refill is not None:
                    refill()  # the request is built now, from everything waiting
                if not self._send(dataset, key, deadline, stop, report, bounded):
                    self.pacer.give_back()  # nothing was due after all
                elif key is not None and key not in keys:
                    keys.append(key)  # more of its files may be due
            self.holding.spool_failing()
        finally:
            self._run_lock.release()
        return report

    def _wake(self, keys: deque[str]) -> deque[str]:
        """After :meth:`wake`: no held log waits after a failure any more, and every
        spooled dataset is visited again, one early try each."""
        with self._lock:
            self._woken = False
        self.holding.lift_waits()
        return self.replay.wake_keys(keys) if self.replay is not None else keys

    def _named(self, keys: deque[str]) -> set[str]:
        """The held datasets whose spool key is in ``keys``."""
        return {name for name in self.holding.names() if dataset_key(name) in keys}

    def _next(self, keys: deque[str], linger: float) -> tuple[str | None, str | None] | None:
        """The next (dataset, spool key) with something to send now, round-robin."""
        ready, waiting = self.holding.ready(batch_size=self.batch_size, linger=linger)
        if ready:
            self._turn += 1
            name = ready[self._turn % len(ready)]
            return name, dataset_key(name) if self.spool is not None else None
        blocked = {dataset_key(name) for name in waiting}
        for _ in range(len(keys)):
            key = keys.popleft()
            if key not in blocked:
                return None, key
            keys.append(key)  # its dataset waits after a failure; its turn comes later
        return None

    def _send(
        self,
        dataset: str | None,
        key: str | None,
        deadline: float,
        stop: threading.Event,
        report: Report,
        bounded: bool = True,
    ) -> bool:
        """Build one request for ``dataset`` (or spool ``key``) and send it; ``False`` when
        there was nothing to send."""
        claims: list[Claim] = []
        if key is not None and self.replay is not None:
            dataset, claims = self.replay.claim(
                key, dataset, max_logs=self.batch_size, max_bytes=self.max_request_bytes
            )
        if dataset is None:
            return False
        spooled = [line for claim in claims for line in claim.logs]
        fresh = self.holding.take(
            dataset, spooled, batch_size=self.batch_size, max_bytes=self.max_request_bytes
        )
        logs = spooled + fresh
        if not logs:
            return False
        with self._lock:
            self._in_flight = (dataset, logs)
        try:
            dataset_id = self.resolver.resolve(dataset, deadline=deadline, stop=stop)
        except ResolveError as exc:
            result = SendResult(cause=str(exc), wait=exc.wait, rate_limited=exc.rate_limited)
            if exc.retry:
                result.retry = list(range(len(logs)))
            else:
                result.refused = dict.fromkeys(range(len(logs)), str(exc))
        else:
            result = self.sender.send(
                dataset_id,
                logs,
                deadline=deadline,
                next_slot=lambda: self.pacer.acquire(deadline=deadline, stop=stop),
                bounded=bounded,
            )
        self._apply(dataset, claims, logs, len(spooled), result, report)
        return True

    def _apply(
        self,
        dataset: str,
        claims: list[Claim],
        logs: list[bytes],
        first_fresh: int,
        result: SendResult,
        report: Report,
    ) -> None:
        """Count the outcome of each log; what is to be retried goes back where it came
        from (the spool, or the head of what is held)."""
        with self._lock:
            abandoned, self._in_flight = self._abandoned, None
        if abandoned:
            Replay.release(claims)  # still in their files: they go again next time
            return
        self.stats.add(requests=result.requests, rate_limited=1 if result.rate_limited else 0)
        accepted, retry = len(result.accepted), set(result.retry)
        replayed = sum(1 for i in result.accepted if i < first_fresh)
        self.stats.add(exported=accepted, replayed=replayed)
        report.delivered += accepted
        if result.refused:
            self.keeper.refuse(
                dataset, [(logs[i], why) for i, why in sorted(result.refused.items())]
            )
            report.refused += len(result.refused)
        # what the server asked for, else a backoff growing with the failures in a row
        wait = (result.wait or self.holding.backoff(dataset)) if retry else 0.0
        if result.rate_limited:
            self.pacer.rate_limited(wait)
            self.notes.say("rate-limited", "respan_otel: rate limited (429): %s", _RATE_LIMIT_FIX)
        elif accepted:
            self.pacer.succeeded()
        if self.replay is not None:
            self.replay.finish(dataset, claims, result, retry)
        back = [logs[i] for i in range(first_fresh, len(logs)) if i in retry]
        self.holding.put_back(dataset, back)
        was_failing = self.holding.failures(dataset) > 0
        if retry and result.tried:
            self.holding.failed(dataset, wait=wait, cause=result.cause)
        elif accepted and not retry:
            self.holding.succeeded(dataset)
        early = any(claim.waiting_until for claim in claims)
        if accepted and (was_failing or early) and self.replay is not None:
            self.replay.recovered(dataset)  # what waits after a failure goes now
        if retry and not result.rate_limited:
            self.notes.say(
                "retry",
                "respan_otel: %d logs not delivered yet (%s); retrying in %.1f s",
                len(retry),
                result.cause,
                wait,
            )
