"""The gateway's one sender: journalled requests become rows, delivered at one budget.

A single thread drains the journal oldest first. It waits until enough spans are waiting
to fill a request (or the oldest has lingered for one request slot), turns them into SDK
spans and hands them to the one :class:`~respan_otel.RespanDatasetExporter` the gateway
holds: the same row selection and mapping as in-process, full 500-log requests, the
org's pacing, retries and the spool. Journal files are removed only after the exporter
returns, when every row is delivered, refused for good (counted) or in its spool.
"""

from __future__ import annotations

import threading
import time
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
    ) -> None:
        self.journal = journal
        self.exporter = exporter
        self.max_spans = max_spans
        self.batch = batch
        self.linger = linger
        self.handed_over = 0
        """Spans handed to the exporter (rows or not)."""
        self.unreadable = 0
        """Spans in journal files that could not be read back."""
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
                entries = self._wait_for_work()
                if entries:
                    self._deliver(entries)
                    last_flush = time.monotonic()
                elif time.monotonic() - last_flush >= _IDLE_FLUSH_SECONDS:
                    self.exporter.force_flush(timeout_millis=int(_IDLE_FLUSH_SECONDS * 1000))
                    last_flush = time.monotonic()
            except Exception as exc:
                log_internal_error("gateway delivery (the journal keeps the spans)", exc)
                self._stop.wait(1.0)

    def _wait_for_work(self) -> list[Entry]:
        """Entries to send now, or ``[]`` after a short idle wait.

        Whole requests' worth (multiples of ``batch`` spans) go at once; a remainder waits
        up to ``linger`` for company, so a slot of the org budget is rarely spent on a sliver.
        """
        journal = self.journal
        with journal.arrived:
            oldest = journal.oldest_arrival
            if oldest is None:
                journal.arrived.wait(1.0)
                return []
            queued = journal.queued_spans
            waited = time.monotonic() - oldest
            lingered = self._stop.is_set() or waited >= self.linger
            if not lingered and queued < self.batch:
                journal.arrived.wait(min(self.linger - waited, 1.0))
                return []
        limit = (
            self.max_spans if lingered else min(self.max_spans, queued // self.batch * self.batch)
        )
        return journal.oldest(limit)

    def _deliver(self, entries: list[Entry]) -> None:
        spans: list[ReadableSpan] = []
        readable: list[Entry] = []
        for entry in entries:
            try:
                request = ExportTraceServiceRequest.FromString(entry.path.read_bytes())
                spans.extend(to_spans(request))
            except (OSError, DecodeError, ValueError) as exc:
                self.unreadable += entry.spans
                self.journal.set_aside(entry, str(exc))
                continue
            readable.append(entry)
        if spans:
            self.exporter.export(spans)
            self.handed_over += len(spans)
        # the exporter has delivered, counted or spooled every row: the journal may forget
        self.journal.remove(readable)
