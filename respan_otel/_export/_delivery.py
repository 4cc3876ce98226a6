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

import contextlib
import itertools
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

from respan_otel._export._encode import take_request
from respan_otel._export._keeping import Keeper, Notes
from respan_otel._export._pacer import RequestPacer
from respan_otel._export._resolver import DatasetResolver, ResolveError
from respan_otel._export._sender import BulkSender, SendResult
from respan_otel._export._spool import Claim, Spool, dataset_key
from respan_otel._export._stats import ExportStats

BACKOFF_BASE: Final = 1.0
BACKOFF_CAP: Final = 30.0
_SLICE_SECONDS: Final = 0.25
HOLD_LIMIT: Final = 5_000
"""Logs held in memory per dataset (ten full requests); older ones go to the spool."""
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


@dataclass
class _Held:
    logs: deque[bytes] = field(default_factory=deque)
    not_before: float = 0.0
    failures: int = 0
    cause: str = ""
    since: float = 0.0
    """When the oldest log now held arrived (``time.monotonic()``)."""


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
        self.hold_limit = hold_limit
        self.notes = notes or Notes()
        self.keeper = Keeper(spool, stats, self.notes)
        self._held: dict[str, _Held] = {}
        self._held_lock = threading.Lock()
        self._run_lock = threading.Lock()
        self._turn = 0
        self._in_flight: tuple[str, list[bytes]] | None = None
        self._abandoned = False
        self._woken = False
        self._early: set[str] = set()
        """Spool keys whose oldest batch may go before its time (one try each, a flush)."""

    # -- holding ------------------------------------------------------------------------

    def add(self, dataset: str, logs: Sequence[bytes]) -> None:
        """Hold ``logs`` for ``dataset``; beyond ``hold_limit`` the oldest go to the spool."""
        with self._held_lock:
            held = self._held.setdefault(dataset, _Held())
            if not held.logs:
                held.since = time.monotonic()
            held.logs.extend(logs)
            excess = len(held.logs) - self.hold_limit
            overflow = [held.logs.popleft() for _ in range(excess)] if excess > 0 else []
        if overflow and not self.keeper.keep(dataset, overflow, "more logs waiting than are held"):
            with self._held_lock:
                held.logs.extendleft(reversed(overflow))
                lost = len(held.logs) - 2 * self.hold_limit
                dropped = [held.logs.popleft() for _ in range(max(0, lost))]
            if dropped:
                self.stats.add(dropped=len(dropped))
                self.notes.say(
                    "held-overflow",
                    "respan_otel: %d logs dropped: more than %d are waiting for delivery and "
                    "the spool cannot take them; make RESPAN_SPOOL_DIR writable",
                    len(dropped),
                    2 * self.hold_limit,
                    error=True,
                )

    def held(self) -> int:
        """Logs held in memory now."""
        with self._held_lock:
            return sum(len(h.logs) for h in self._held.values())

    def wake(self) -> None:
        """A flush: what waits after a failure may go now (the backend may be back).

        Held logs lose their backoff; each spooled dataset gets one try of its oldest
        waiting batch (a try before its time counts as none), and once a request of a
        dataset succeeds, all its waiting batches are due. A 429's wait still holds (the
        pacer keeps it). Cheap: the delivery loop does it at its next turn."""
        with self._held_lock:
            self._woken = True

    def abandon(self) -> tuple[str, list[bytes]] | None:
        """Give up on the request in flight (at exit): its outcome will not be counted;
        returns its dataset and logs so the caller can keep them."""
        with self._held_lock:
            self._abandoned = True
            in_flight, self._in_flight = self._in_flight, None
        return in_flight

    def keep(self, dataset: str, logs: Sequence[bytes], reason: str) -> None:
        """Spool ``logs``, or count them as failed with a line saying why."""
        self.keeper.keep(dataset, logs, reason, count_loss=True)

    def spill(self, reason: str, *, count_loss: bool = True) -> int:
        """Put every held log in the spool; returns how many were held. What the spool
        cannot take is counted as failed (``count_loss``) or stays held."""
        with self._held_lock:
            batches = [(name, h, list(h.logs)) for name, h in self._held.items() if h.logs]
            for _, held, _ in batches:
                held.logs.clear()
        for dataset, held, logs in batches:
            if (
                not self.keeper.keep(dataset, logs, reason, count_loss=count_loss)
                and not count_loss
            ):
                with self._held_lock:
                    held.logs.extendleft(reversed(logs))
        return sum(len(logs) for _, _, logs in batches)

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
            keys = deque(self.spool.pending_keys() if replay and self.spool else [])
            while not stop.is_set():
                now = time.monotonic()
                if now >= deadline:
                    break
                if self._woken and replay:  # a flush's round (or a replaying export)
                    keys = self._wake_keys(keys)
                if refill is not None:
                    refill()
                work = self._next(keys, linger)
                if work is None:
                    wake = self._next_wake(keys)
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
            self._spool_failing()
        finally:
            self._run_lock.release()
        return report

    def _wake_keys(self, keys: deque[str]) -> deque[str]:
        """After :meth:`wake`: no held log waits after a failure any more, and every
        spooled dataset is looked at again, one early try each."""
        with self._held_lock:
            self._woken = False
            for held in self._held.values():
                held.not_before = 0.0
        if self.spool is None:
            return keys
        pending = self.spool.pending_keys()
        self._early = set(pending)
        return deque([*keys, *(key for key in pending if key not in keys)])

    def _spool_failing(self) -> None:
        """Logs held because the backend fails (not merely pacing) go to the spool, so an
        outage never rests on memory alone."""
        if self.spool is None:
            return
        with self._held_lock:
            failing = [(n, h, list(h.logs)) for n, h in self._held.items() if h.failures and h.logs]
            for _, held, _ in failing:
                held.logs.clear()
        for dataset, held, logs in failing:
            if not self.keeper.keep(dataset, logs, held.cause):
                with self._held_lock:
                    held.logs.extendleft(reversed(logs))

    def _next(self, keys: deque[str], linger: float) -> tuple[str | None, str | None] | None:
        """The next (dataset, spool key) with something to send now, round-robin."""
        now = time.monotonic()
        with self._held_lock:
            ready = [
                n
                for n, h in self._held.items()
                if h.logs
                and h.not_before <= now
                and (len(h.logs) >= self.batch_size or now - h.since >= linger)
            ]
            blocked = {dataset_key(n) for n, h in self._held.items() if h.not_before > now}
        if ready:
            self._turn += 1
            name = ready[self._turn % len(ready)]
            return name, dataset_key(name) if self.spool is not None else None
        for _ in range(len(keys)):
            key = keys.popleft()
            if key not in blocked:
                return None, key
            keys.append(key)  # its dataset waits after a failure; its turn comes later
        return None

    def _next_wake(self, keys: deque[str]) -> float | None:
        """When the earliest dataset waiting after a failure (held, or spooled in
        ``keys``) may go; ``None`` when none waits for that."""
        now = time.monotonic()
        with self._held_lock:
            waits = [
                h.not_before
                for n, h in self._held.items()
                if h.not_before > now and (h.logs or (keys and dataset_key(n) in keys))
            ]
        return min(waits) if waits else None

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
        if key is not None and self.spool is not None:
            early = key in self._early
            self._early.discard(key)
            try:
                claims = self.spool.claim(
                    key, max_logs=self.batch_size, max_bytes=self.max_request_bytes, early=early
                )
            except OSError as exc:
                self.notes.say("spool-read", "respan_otel: the spool cannot be read: %s", exc)
            if dataset is None and claims:
                dataset = claims[0].dataset
            for other in [c for c in claims if c.dataset != dataset]:
                self.spool.finish(other, other.logs)  # a key shared by two names: later
            claims = [c for c in claims if c.dataset == dataset]
        if dataset is None:
            return False
        spooled = [line for claim in claims for line in claim.logs]
        fresh = self._take(dataset, spooled)
        logs = spooled + fresh
        if not logs:
            return False
        with self._held_lock:
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
        self._apply(dataset, claims, fresh, len(spooled), result, report)
        return True

    def _take(self, dataset: str, spooled: list[bytes]) -> list[bytes]:
        """Fresh logs of ``dataset`` to fill the request after ``spooled``."""
        room = self.batch_size - len(spooled)
        if room <= 0:
            return []
        with self._held_lock:
            held = self._held.get(dataset)
            if held is None or not held.logs:
                return []
            candidates = list(itertools.islice(held.logs, room))
            fits = take_request(
                [*spooled, *candidates],
                batch_size=self.batch_size,
                max_bytes=self.max_request_bytes,
            )
            return [held.logs.popleft() for _ in range(max(0, fits - len(spooled)))]

    def _apply(
        self,
        dataset: str,
        claims: list[Claim],
        fresh: list[bytes],
        first_fresh: int,
        result: SendResult,
        report: Report,
    ) -> None:
        with self._held_lock:
            abandoned, self._in_flight = self._abandoned, None
        if abandoned:
            for claim in claims:
                claim.handle.close()  # still in its file: it goes again next time
            return
        logs = [line for claim in claims for line in claim.logs] + fresh
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
        wait = self._retry_wait(dataset, result)
        if result.rate_limited:
            self.pacer.rate_limited(wait)
            self.notes.say("rate-limited", "respan_otel: rate limited (429): %s", _RATE_LIMIT_FIX)
        elif accepted:
            self.pacer.succeeded()
        assert self.spool is not None or not claims
        start = 0
        for claim in claims:
            indices = range(start, start + len(claim.logs))
            start += len(claim.logs)
            remaining = [logs[i] for i in indices if i in retry]
            try:
                exhausted = self.spool.finish(  # type: ignore[union-attr]
                    claim, remaining, failed_attempt=result.server_failed and bool(remaining)
                )
            except OSError as exc:
                self.notes.say("spool-write", "respan_otel: the spool cannot be written: %s", exc)
                continue
            if exhausted:
                why = f"the server failed it {claim.attempts + 1} times: {result.cause}"
                self.keeper.refuse(dataset, [(line, why) for line in remaining])
        back = [logs[i] for i in range(first_fresh, len(logs)) if i in retry]
        with self._held_lock:
            held = self._held.setdefault(dataset, _Held())
            recovered = accepted > 0 and (held.failures > 0 or any(c.waiting_until for c in claims))
            if back:
                if not held.logs:
                    held.since = time.monotonic()
                held.logs.extendleft(reversed(back))
            if retry and not result.tried:
                pass  # nothing was sent: no failure to count, no wait
            elif retry:
                held.failures += 1
                held.not_before = time.monotonic() + wait
                held.cause = result.cause
            elif accepted:
                held.failures = 0
                held.not_before = 0.0
        if recovered and self.spool is not None:
            # the backend takes this dataset's logs again: what waits after a failure goes
            with contextlib.suppress(OSError):
                self.spool.wake(dataset_key(dataset))
        if retry and not result.rate_limited:
            self.notes.say(
                "retry",
                "respan_otel: %d logs not delivered yet (%s); retrying in %.1f s",
                len(retry),
                result.cause,
                wait,
            )

    def _retry_wait(self, dataset: str, result: SendResult) -> float:
        if not result.retry:
            return 0.0
        if result.wait > 0:
            return result.wait
        with self._held_lock:
            failures = self._held[dataset].failures if dataset in self._held else 0
        return min(BACKOFF_CAP, BACKOFF_BASE * 2.0**failures) * random.uniform(0.8, 1.2)
