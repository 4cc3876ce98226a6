"""``DatasetSpanProcessor``: its own queue and worker thread in front of the exporter.

``on_end`` only appends the span to a bounded queue (the application never waits). The
worker maps spans to rows when a request can be built (so a pacing slot carries
everything waiting), delivers, and answers flush requests. ``force_flush(timeout)`` and
``shutdown()`` return within their bound whatever is in flight: the worker keeps its own
deadline, and what it could not send by shutdown goes to the spool. No private SDK
attribute is read.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Final

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from respan_otel._export._children import register_child_hooks
from respan_otel._export._exporter import RespanDatasetExporter
from respan_otel._export._mapping import has_dataset_content
from respan_otel._log import log_internal_error, logger

BATCH_SIZE: Final = 500
"""Spans that wake the worker at once: one full bulk request."""
SCHEDULE_DELAY_SECONDS: Final = 2.0
"""How long a span may wait for company before the worker looks at the queue."""
MAX_QUEUE_SIZE: Final = 20_000
"""Spans queued in memory: 80 s of the API's 250 logs/s ceiling. Beyond it new spans are
dropped, counted, and told in one summary line a minute."""
REPLAY_INTERVAL_SECONDS: Final = 10.0
"""How often an idle worker looks at the spool for logs to replay."""
DEFAULT_SHUTDOWN_TIMEOUT_SECONDS: Final = 15.0
_SUMMARY_INTERVAL_SECONDS: Final = 60.0


@dataclass
class _Flush:
    target: int
    deadline: float
    stats: dict[str, int]
    done: threading.Event = field(default_factory=threading.Event)
    ok: bool = False
    seen: bool = False


class DatasetSpanProcessor(SpanProcessor):
    """Queues finished spans and delivers them as dataset logs from a worker thread.

    ``exporter`` defaults to a :class:`RespanDatasetExporter` built from ``RESPAN_*``.
    ``shutdown_timeout`` bounds :meth:`shutdown` (``RESPAN_SHUTDOWN_TIMEOUT_SECONDS`` in
    ``configure()``).
    """

    def __init__(
        self,
        exporter: RespanDatasetExporter | None = None,
        *,
        shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT_SECONDS,
        max_queue_size: int | None = None,
        schedule_delay: float | None = None,
    ) -> None:
        self.exporter = exporter if exporter is not None else RespanDatasetExporter()
        self.shutdown_timeout = shutdown_timeout
        self.max_queue_size = MAX_QUEUE_SIZE if max_queue_size is None else max_queue_size
        self.schedule_delay = SCHEDULE_DELAY_SECONDS if schedule_delay is None else schedule_delay
        self._reset()
        self._shut = False
        self._warned_late = False
        register_child_hooks(self)

    def _reset(self) -> None:
        """Fresh state (also in a forked child: the parent delivers what it queued)."""
        self._cond = threading.Condition()
        self._queue: deque[ReadableSpan] = deque()
        self._enqueued = 0
        self._taken = 0
        self._flushes: list[_Flush] = []
        self._worker: threading.Thread | None = None
        self._stop = threading.Event()
        self._final_deadline: float | None = None
        self._full = 0
        self._full_told_at = 0.0
        self._next_replay = 0.0

    @property
    def queued(self) -> int:
        """Spans waiting in the queue (not yet mapped to rows)."""
        with self._cond:
            return len(self._queue)

    # -- the SpanProcessor interface ---------------------------------------------------

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        try:
            if not has_dataset_content(span):
                # HTTP, DB...: never a row (and no total needs them); not worth a queue slot
                self.exporter.stats.skip({"no-content": 1})
                return
            if self._shut:
                self._late()
                return
            with self._cond:
                if len(self._queue) >= self.max_queue_size:
                    self._full += 1
                    return
                self._queue.append(span)
                self._enqueued += 1
                if len(self._queue) >= BATCH_SIZE:
                    self._cond.notify()
            if self._worker is None:
                self._start_worker()
        except Exception as exc:
            log_internal_error("DatasetSpanProcessor.on_end", exc)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Export everything finished so far, within ``timeout_millis``.

        True only if it all went out: nothing newly failed, dropped or spooled, and
        nothing is left waiting."""
        if self._shut:
            return True
        bound = time.monotonic() + max(0, timeout_millis) / 1000
        self.exporter.wake()  # the backend may be back: what waits after a failure may go
        with self._cond:
            request = _Flush(self._enqueued, bound, self.exporter.stats.snapshot())
            self._flushes.append(request)
            self._cond.notify()
        if self._worker is None and not self._start_worker():
            self._run_inline(bound)
        request.done.wait(max(0.0, bound - time.monotonic()))
        return request.ok

    def shutdown(self) -> None:
        """Deliver what is queued within the shutdown bound, spool the rest, stop.

        No thread is started here (this runs at interpreter exit, where some Python
        versions refuse new threads)."""
        if self._shut:
            return
        self._shut = True
        bound = time.monotonic() + self.shutdown_timeout
        worker = self._worker
        if worker is not None and worker.is_alive():
            with self._cond:
                self._final_deadline = bound - min(1.0, self.shutdown_timeout / 10)
                self._cond.notify()
            worker.join(max(0.0, bound - time.monotonic()))
            if worker.is_alive():
                self._stop.set()
                worker.join(0.5)
        else:
            self._run_inline(bound)
        try:
            self._refill()  # what the worker did not take: mapped and spooled
            delivery = self.exporter.delivery
            if worker is not None and worker.is_alive() and delivery is not None:
                stuck = delivery.abandon()
                if stuck is not None:
                    # no answer in time: kept for the next process (which may repeat them
                    # if the server did store them) rather than lost
                    delivery.keep(*stuck, "a request was still in flight at shutdown")
            self.exporter.spill("the process exited before they could be sent")
            self._tell_full(force=True)
            self.exporter.shutdown(timeout_millis=0)
        except Exception as exc:
            log_internal_error("DatasetSpanProcessor.shutdown", exc)

    # -- the worker --------------------------------------------------------------------

    def _start_worker(self) -> bool:
        with self._cond:
            if self._worker is not None:
                return True
            worker = threading.Thread(target=self._run, name="respan-otel-export", daemon=True)
            try:
                worker.start()
            except RuntimeError:  # interpreter shutting down: shutdown() exports inline
                return False
            self._worker = worker
            return True

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._has_work():
                    self._cond.wait(self.schedule_delay)
                final = self._final_deadline
            try:
                self._round(final)
            except Exception as exc:
                log_internal_error("the respan-otel export worker", exc)
            if final is not None:
                return

    def _has_work(self) -> bool:
        fresh = any(not flush.seen for flush in self._flushes)
        return len(self._queue) >= BATCH_SIZE or fresh or self._final_deadline is not None

    def _round(self, final: float | None) -> None:
        now = time.monotonic()
        with self._cond:
            for flush in self._flushes:
                flush.seen = True
            flushing = max((f.deadline for f in self._flushes), default=now)
        deadline = final or max(now + self.exporter.settings.export_timeout, flushing)
        replay = final is None and (flushing > now or now >= self._next_replay)
        if replay:
            self._next_replay = now + REPLAY_INTERVAL_SECONDS
        if self._queue or self.exporter.held() or replay:
            urgent = final is not None or flushing > now
            self.exporter.deliver(
                deadline=deadline,
                stop=self._stop,
                refill=self._refill,
                replay=replay,
                linger=0.0 if urgent else self.schedule_delay,
                # this thread's deadlines are its own: a request is never cut short by
                # them (shutdown abandons one still running at its bound, and keeps it)
                bounded=False,
            )
        self._tell_full()
        self._answer_flushes()

    def _run_inline(self, bound: float) -> None:
        """No worker (none may start): deliver on the calling thread, within ``bound``."""
        with self._cond:
            for flush in self._flushes:
                flush.seen = True
        self._refill()
        self.exporter.deliver(deadline=bound, stop=self._stop)
        self._answer_flushes()

    def _refill(self) -> None:
        with self._cond:
            spans = list(self._queue)
            self._queue.clear()
            self._taken = self._enqueued
        if spans:
            self.exporter.submit(spans)

    def _answer_flushes(self) -> None:
        """A flush is answered once what it covers went out (seen by a round that
        started after it: one that began earlier may have spooled it all without a try
        since), or its time is up."""
        left = self.exporter.held()
        stats = self.exporter.stats.snapshot()
        now = time.monotonic()
        with self._cond:
            pending = []
            for flush in self._flushes:
                covered = flush.seen and flush.target <= self._taken and left == 0
                if covered:
                    keys = ("failed", "dropped", "spooled")
                    flush.ok = all(stats[k] == flush.stats[k] for k in keys)
                if covered or now >= flush.deadline:
                    flush.done.set()
                else:
                    pending.append(flush)
            self._flushes = pending

    # -- telling -------------------------------------------------------------------------

    def _tell_full(self, *, force: bool = False) -> None:
        now = time.monotonic()
        with self._cond:
            count = self._full
            if not count or (not force and now - self._full_told_at < _SUMMARY_INTERVAL_SECONDS):
                return
            self._full, self._full_told_at = 0, now
        self.exporter.stats.add(dropped=count)
        logger.warning(
            "respan_otel: %d spans dropped: the export queue (%d spans) was full, spans end "
            "faster than they can be delivered; lower the traffic traced or set "
            "RESPAN_ROWS=roots",
            count,
            self.max_queue_size,
        )

    def _late(self) -> None:
        self.exporter.stats.add(dropped=1)
        if not self._warned_late:
            self._warned_late = True
            logger.warning(
                "respan_otel: a span ended after shutdown(); it is not exported (counted as "
                "dropped; call configure() again to export again)"
            )

    # -- processes ---------------------------------------------------------------------

    def _after_fork_in_child(self) -> None:
        self._reset()
