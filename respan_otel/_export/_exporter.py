"""``RespanDatasetExporter``: finished spans become Respan dataset logs, delivered in bulk.

Usage, with the SDK's own batching in front of it::

    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from respan_otel import RespanDatasetExporter

    provider.add_span_processor(BatchSpanProcessor(RespanDatasetExporter()))

or with no code at all: ``OTEL_TRACES_EXPORTER=respan opentelemetry-instrument ...``;
:class:`~respan_otel.DatasetSpanProcessor` (what ``configure()`` uses) bounds flush and
shutdown better than the SDK's processor. Every setting comes from arguments or
``RESPAN_*`` variables (see :mod:`respan_otel._settings`).

The exporter only wires small parts: :class:`~respan_otel._export._intake.Intake` makes
spans into encoded logs per dataset, and :class:`~respan_otel._export._delivery.Delivery`
(built by :mod:`~respan_otel._export._assembly`) holds, paces, sends, retries and spools them.
``export()`` never raises, and its HTTP calls never create spans.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Sequence

from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from respan_otel._export._assembly import (
    build_delivery,
    call_in_forked_children,
    suppressed_context,
)
from respan_otel._export._delivery import Delivery, Report
from respan_otel._export._intake import Intake
from respan_otel._export._keeping import Notes
from respan_otel._export._mapping import BeforeSend
from respan_otel._export._rows import RowBuilder
from respan_otel._export._spool import Spool
from respan_otel._export._stats import ExportStats as ExportStats  # re-exported
from respan_otel._log import log_internal_error, logger
from respan_otel._redact import get_redactor
from respan_otel._settings import ExporterSettings, RowsMode
from respan_otel.client._transport import normalize_base_url


class RespanDatasetExporter(SpanExporter):
    """An OpenTelemetry ``SpanExporter`` that writes spans as Respan dataset logs.

    Constructible with no arguments: every option falls back to its ``RESPAN_*``
    environment variable. Without an API key it logs one warning and sends nothing.

    Args:
        api_key: Bearer key (``RESPAN_API_KEY``).
        base_url: API root, with or without ``/api`` (``RESPAN_BASE_URL``).
        dataset_id: dataset for spans that name none (``RESPAN_DATASET_ID``): an id.
        batch_size: logs per bulk request, at most 500 (``RESPAN_BATCH_SIZE``).
        max_request_bytes: cap on a request body (``RESPAN_MAX_REQUEST_BYTES``).
        requests_per_minute: client-side pacing, 0 for none (``RESPAN_REQUESTS_PER_MINUTE``).
        export_timeout: seconds one ``export()`` may take (``RESPAN_EXPORT_TIMEOUT_SECONDS``).
        request_timeout: seconds one HTTP request may take (``RESPAN_REQUEST_TIMEOUT_SECONDS``).
        spool_dir: where logs not delivered yet are kept, ``"off"`` for nowhere
            (``RESPAN_SPOOL_DIR``; default: the per-user cache directory).
        spool_max_bytes: size cap of the spool (``RESPAN_SPOOL_MAX_BYTES``).
        only_root_spans: same as ``rows="roots"`` (``RESPAN_ONLY_ROOT_SPANS``).
        rows: which spans become rows: ``"useful"``, ``"all"`` or ``"roots"`` (``RESPAN_ROWS``).
        before_send: last-mile hook to change or drop each log body.
        redact_keys: keys masked in content read from other instrumentations' spans.
        allow_insecure_http: permit ``http://`` to a host that is not loopback.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        dataset_id: str | None = None,
        batch_size: int | None = None,
        max_request_bytes: int | None = None,
        requests_per_minute: float | None = None,
        export_timeout: float | None = None,
        request_timeout: float | None = None,
        spool_dir: str | os.PathLike[str] | None = None,
        spool_max_bytes: int | None = None,
        only_root_spans: bool | None = None,
        rows: RowsMode | None = None,
        before_send: BeforeSend | None = None,
        redact_keys: Sequence[str] | None = None,
        allow_insecure_http: bool = False,
    ) -> None:
        if before_send is not None and not callable(before_send):
            raise TypeError("before_send must be callable")
        self.settings = settings = ExporterSettings.resolve(
            api_key=api_key,
            base_url=base_url,
            dataset_id=dataset_id,
            batch_size=batch_size,
            max_request_bytes=max_request_bytes,
            requests_per_minute=requests_per_minute,
            export_timeout=export_timeout,
            request_timeout=request_timeout,
            spool_dir=spool_dir,
            spool_max_bytes=spool_max_bytes,
            only_root_spans=only_root_spans,
            rows=rows,
            redact_keys=redact_keys,
        )
        normalize_base_url(settings.base_url, allow_insecure_http=allow_insecure_http)
        self.stats = ExportStats()
        self.notes = Notes()
        rows_builder = RowBuilder(
            rows=settings.rows,
            redactor=get_redactor(settings.redact_keys),
            before_send=before_send,
            splice=True,  # its rows only go to encode(): our own JSON is written as is
        )
        self._intake = Intake(
            rows_builder,
            default_dataset=settings.dataset_id,
            max_request_bytes=settings.max_request_bytes,
            stats=self.stats,
            notes=self.notes,
        )
        self._stop = threading.Event()
        self._closed = False
        self._cap = math.inf
        self.delivery: Delivery | None = None
        if settings.api_key is None:
            logger.warning(
                "respan_otel: no API key (pass api_key= or set RESPAN_API_KEY); tracing "
                "works but no dataset logs are sent"
            )
        else:
            from respan_otel.client._client import RespanClient

            self._client = RespanClient(
                settings.api_key,
                settings.base_url,
                timeout=settings.request_timeout,
                max_retries=0,
                allow_insecure_http=allow_insecure_http,
            )
            self.delivery = self._new_delivery()
        call_in_forked_children(self._after_fork_in_child)

    def _new_delivery(self) -> Delivery:
        return build_delivery(self.settings, self._client._http, self.stats, self.notes)

    def __repr__(self) -> str:
        return f"RespanDatasetExporter({self.settings!r})"

    @property
    def sending(self) -> bool:
        """Whether logs are sent at all (an API key was given)."""
        return self.delivery is not None

    @property
    def spool(self) -> Spool | None:
        """The spool in use, if any."""
        return self.delivery.spool if self.delivery is not None else None

    # -- the parts, for a processor of our own ------------------------------------------

    def submit(self, spans: Sequence[ReadableSpan]) -> int:
        """Map ``spans`` to rows and hold them for delivery; returns the rows held."""
        held = 0
        for dataset, logs in self._intake.logs(spans).items():
            if self.delivery is None:
                self.stats.add(dropped=len(logs))
                continue
            self.delivery.add(dataset, logs)
            held += len(logs)
        return held

    def deliver(
        self,
        *,
        deadline: float,
        stop: threading.Event | None = None,
        refill: Callable[[], None] | None = None,
        replay: bool = True,
        linger: float = 0.0,
        bounded: bool = True,
    ) -> Report:
        """Send what is held (and spooled, when ``replay``) until done or ``deadline``
        (a ``time.monotonic()`` reading); ``refill`` is called before each request is
        built, to hold what is waiting elsewhere; ``linger`` lets a dataset with less
        than a full request wait for company that long; without ``bounded`` a request
        started before the deadline gets its whole timeout."""
        if self.delivery is None:
            return Report()
        token = otel_context.attach(suppressed_context())
        try:
            return self.delivery.deliver(
                deadline=min(deadline, self._cap),
                stop=stop or self._stop,
                refill=refill,
                replay=replay,
                linger=linger,
                bounded=bounded,
            )
        finally:
            otel_context.detach(token)

    def limit_to(self, seconds: float) -> None:
        """From now on, no wait or request of this exporter starts past ``seconds`` from
        now (a caller about to stop it; what is not sent by then is spooled)."""
        self._cap = min(self._cap, time.monotonic() + seconds)

    def wake(self) -> None:
        """What waits after a failure may go at the next delivery (a flush: the backend
        may be back); see :meth:`Delivery.wake`."""
        if self.delivery is not None:
            self.delivery.wake()

    def held(self) -> int:
        """Logs waiting in memory for delivery."""
        return self.delivery.held() if self.delivery is not None else 0

    def spill(self, reason: str, *, count_loss: bool = True) -> int:
        """Spool everything held; what the spool cannot take is counted as failed (or,
        without ``count_loss``, stays held). Returns how many were held."""
        if self.delivery is None:
            return 0
        return self.delivery.spill(reason, count_loss=count_loss)

    # -- the SpanExporter interface ------------------------------------------------------

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Deliver the logs of ``spans``; never raises. FAILURE if any was refused or failed.

        Logs that cannot go before the deadline are spooled (the next call, or the next
        process, sends them), which is not a failure; with no spool they stay held."""
        if self._closed:
            self.notes.say("shutdown", "respan_otel: export() after shutdown; spans ignored")
            return SpanExportResult.FAILURE
        try:
            before = self.stats.snapshot()
            self.submit(spans)
            self.deliver(deadline=time.monotonic() + self.settings.export_timeout)
            if self.held():
                # the caller may forget these spans now (a gateway drops its journal)
                self.spill("not sent before the export deadline", count_loss=False)
            after = self.stats.snapshot()
            failed = after["failed"] > before["failed"]
            return SpanExportResult.FAILURE if failed else SpanExportResult.SUCCESS
        except Exception as exc:
            log_internal_error("RespanDatasetExporter.export", exc)
            return SpanExportResult.FAILURE

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Send what is held and spooled, within ``timeout_millis``; True if nothing is
        left (held, or in the spool)."""
        if self.delivery is None or self._closed:
            return True
        try:
            self.wake()
            self.deliver(deadline=time.monotonic() + timeout_millis / 1000)
            spool = self.delivery.spool
            return self.held() == 0 and (spool is None or not spool.pending())
        except Exception as exc:
            log_internal_error("RespanDatasetExporter.force_flush", exc)
            return False

    def shutdown(self, timeout_millis: int = 30_000) -> None:
        """Send what it can within ``timeout_millis``, spool the rest, close."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.delivery is not None:
                bound = min(timeout_millis / 1000, self.settings.export_timeout)
                # what is held goes first; the spool waits for the next process
                self.deliver(deadline=time.monotonic() + bound, replay=False)
                self._stop.set()
                self.spill("the exporter shut down before they could be sent")
                self._client.close()
        except Exception as exc:
            log_internal_error("RespanDatasetExporter.shutdown", exc)
        self.log_summary()

    def log_summary(self) -> None:
        """One line with the counters: WARNING when logs were lost."""
        counts = self.stats.snapshot()
        summary = ", ".join(f"{name} {value}" for name, value in counts.items())
        if counts["failed"] or counts["dropped"]:
            logger.warning("respan_otel: exporter shut down: %s", summary)
        else:
            logger.info("respan_otel: exporter shut down: %s", summary)

    # -- fork ---------------------------------------------------------------------------

    def _after_fork_in_child(self) -> None:
        """The child starts clean: its parent delivers what it held; fresh locks."""
        self.stats = self._intake.stats = ExportStats()
        self._stop = threading.Event()
        if self.delivery is not None:
            self.delivery = self._new_delivery()
