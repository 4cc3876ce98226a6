"""The gateway's one sender: journalled requests become rows, delivered at one budget.

A single thread reads the journal oldest first into a queue of spans. Whole requests'
worth (multiples of ``batch`` spans) go to the one
:class:`~respan_otel.RespanDatasetExporter` the gateway holds as soon as they are there;
a remainder waits up to ``linger`` (one request slot of the org budget) for company, so
requests leave full whatever size the senders' batches have. The exporter applies the
same row selection and mapping as in-process, the org's pacing, retries and its spool.
A journal file is removed only once every span it holds has been through the exporter
(delivered, refused for good and counted, or spooled).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Final

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan

from respan_otel._export._exporter import RespanDatasetExporter
from respan_otel._log import log_internal_error
from respan_otel.gateway._decode import to_spans
from respan_otel.gateway._journal import Entry, Journal

_IDLE_FLUSH_SECONDS: Final = 5.0
"""How often an idle gateway retries what its exporter spooled."""
_RATE_WINDOW_SECONDS: Final = 60.0
_RATE_MIN_SECONDS: Final = 10.0
"""Arrivals are averaged over at least this long, so one burst does not look like a flood."""
_BUSY_SHARE: Final = 0.8
"""Arriving at this share of the budget's ceiling or more, only full requests leave."""


class Delivery:
    """Runs the delivery thread; :meth:`stop` lets the current export finish or spool."""

    def __init__(
        self,
        journal: Journal,
        exporter: RespanDatasetExporter,
        *,
        max_spans: int,
        batch: int,
        linger: float,
        requests_per_minute: float,
    ) -> None:
        self.journal = journal
        self.exporter = exporter
        self.max_spans = max_spans
        self.batch = batch
        self.linger = linger
        # spans per second the budget can carry in full requests; 0: no budget to keep
        self.ceiling = requests_per_minute * batch / 60.0
        self.handed_over = 0
        """Spans handed to the exporter (rows or not)."""
        self.unreadable = 0
        """Spans in journal files that could not be read back."""
        self._queue: deque[tuple[ReadableSpan, Entry]] = deque()
        self._left: dict[int, int] = {}  # entry sequence -> its spans not yet handed over
        self._last_send = 0.0
        self._arrivals: deque[tuple[float, int]] = deque()  # (arrived, spans) as read
        self._first_arrival: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name="respan-gateway-delivery", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float) -> None:
        """Stop after the current export; it gets ``timeout`` seconds, then spools."""
        self._stop.set()
        with self.journal.arrived:
            self.journal.arrived.notify_all()
        self.exporter.limit_to(timeout)
        if self._thread is not None:
            self._thread.join(timeout + 1.0)
        self.exporter.shutdown(timeout_millis=1000)

    def _run(self) -> None:
        last_flush = time.monotonic()
        while not self._stop.is_set():
            try:
                count = self._ready()
                if count:
                    self._deliver(count)
                    last_flush = time.monotonic()
                elif time.monotonic() - last_flush >= _IDLE_FLUSH_SECONDS:
                    self.exporter.force_flush(timeout_millis=int(_IDLE_FLUSH_SECONDS * 1000))
                    last_flush = time.monotonic()
            except Exception as exc:
                log_internal_error("gateway delivery (the journal keeps the spans)", exc)
                self._stop.wait(1.0)

    def _ready(self) -> int:
        """How many queued spans to send now (0 after a short idle wait)."""
        journal = self.journal
        with journal.arrived:
            oldest = journal.oldest_arrival
            if oldest is None:
                journal.arrived.wait(1.0)
                return 0
            queued = journal.queued_spans  # read into the queue or not, not yet sent
            now = time.monotonic()
            # a part-filled request at most once per slot interval, so remainders of
            # full requests join the next ones instead of leaving as slivers
            waited = min(now - oldest, now - self._last_send)
            lingered = self._stop.is_set() or waited >= self.linger
            if not lingered and queued < self.batch:
                journal.arrived.wait(min(self.linger - waited, 1.0))
                return 0
        self._read(self.max_spans - len(self._queue))
        full = min(self.max_spans, len(self._queue) // self.batch * self.batch)
        # full requests whenever there are any; the remainder only once it has lingered,
        # nothing full is waiting and spans arrive well below the ceiling (near it, a
        # part-filled request spends a slot the coming full ones need)
        count = full or (len(self._queue) if lingered and not self._busy() else 0)
        if not count:
            # the remainder waits for company: sleep until more arrives (or a second
            # passes), rather than asking again at once (a busy loop that cost ~1 ms of
            # CPU per span at 300 spans/s)
            with journal.arrived:
                journal.arrived.wait(1.0)
        return count

    def _busy(self) -> bool:
        """Whether spans arrive at close to what the budget carries in full requests."""
        if self.ceiling <= 0 or self._first_arrival is None:
            return False
        now = self._forget_old_arrivals()
        span = min(_RATE_WINDOW_SECONDS, max(_RATE_MIN_SECONDS, now - self._first_arrival))
        rate = sum(spans for _, spans in self._arrivals) / span
        return rate >= _BUSY_SHARE * self.ceiling

    def _read(self, room: int) -> None:
        """Decode unread journal entries into the queue, up to ``room`` spans."""
        if room <= 0:
            return
        for entry in self.journal.unread(set(self._left), room):
            try:
                request = ExportTraceServiceRequest.FromString(entry.path.read_bytes())
                spans = list(to_spans(request))
            except (OSError, DecodeError, ValueError) as exc:
                self.unreadable += entry.spans
                self.journal.set_aside(entry, str(exc))
                continue
            if not spans:
                self.journal.remove([entry])
                continue
            self._left[entry.sequence] = len(spans)
            self._queue.extend((span, entry) for span in spans)
            arrived = entry.arrived or time.monotonic()  # 0: found at start
            self._arrivals.append((arrived, len(spans)))
            if self._first_arrival is None:
                self._first_arrival = arrived
        self._forget_old_arrivals()

    def _forget_old_arrivals(self) -> float:
        now = time.monotonic()
        while self._arrivals and now - self._arrivals[0][0] > _RATE_WINDOW_SECONDS:
            self._arrivals.popleft()
        return now

    def _deliver(self, count: int) -> None:
        taken = [self._queue.popleft() for _ in range(count)]
        self._last_send = time.monotonic()
        self.exporter.export([span for span, _ in taken])
        self.handed_over += count
        done: list[Entry] = []
        for _, entry in taken:
            self._left[entry.sequence] -= 1
            if self._left[entry.sequence] == 0:
                del self._left[entry.sequence]
                done.append(entry)
        # every span of these entries was delivered, counted or spooled: forget them
        self.journal.remove(done)
