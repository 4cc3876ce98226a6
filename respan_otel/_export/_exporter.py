"""``RespanDatasetExporter``: finished spans become Respan dataset logs, delivered in bulk.

Usage, with the SDK's own batching in front of it::

    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from respan_otel import RespanDatasetExporter

    provider.add_span_processor(BatchSpanProcessor(RespanDatasetExporter()))

or with no code at all: ``OTEL_TRACES_EXPORTER=respan opentelemetry-instrument ...``.
Every setting comes from arguments or ``RESPAN_*`` variables (see :mod:`respan_otel._settings`).

What one ``export()`` call does, within one deadline (``RESPAN_EXPORT_TIMEOUT_SECONDS``):

1. replays the disk spool, oldest first, if one is configured;
2. maps each span to a log (:mod:`respan_otel._export._mapping`), skipping spans without dataset
   content, applying ``only_root_spans`` and the ``before_send`` hook;
3. groups logs per dataset (an id, or a name resolved once and created when missing) and
   splits them into requests of at most ``batch_size`` logs and ``max_request_bytes``;
4. sends each request to ``POST /api/datasets/{id}/logs/bulk/``, paced under the rate
   limit. Per-item errors in a partial success are logged and never re-sent; 413 splits
   the request; 400/422 are not retried; 401/403/404 are explained once; 429, 5xx and
   connection failures are retried with exponential backoff and jitter, honouring
   ``retry_after``/``Retry-After``;
5. whatever could not be delivered is spooled when a spool directory is set, otherwise
   counted as failed. Nothing is lost without a count and a log line.

``export()`` never raises, and its HTTP calls never create spans.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import threading
import time
import weakref
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from respan_otel._datasets import is_dataset_id
from respan_otel._export._mapping import BeforeSend
from respan_otel._export._pacer import RequestPacer
from respan_otel._export._rows import RowBuilder
from respan_otel._export._spool import Spool, SpooledBatch
from respan_otel._log import log_internal_error, logger
from respan_otel._redact import get_redactor
from respan_otel._serialize import to_jsonable
from respan_otel._settings import ExporterSettings, RowsMode
from respan_otel.client._errors import (
    APIConnectionError,
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RespanError,
    ServerError,
)
from respan_otel.client._transport import normalize_base_url

_BODY_OVERHEAD: Final = len(b'{"logs":[]}')
_BACKOFF_BASE: Final = 1.0
_BACKOFF_CAP: Final = 30.0
_SUPPRESS_KEYS: Final = (
    otel_context._SUPPRESS_INSTRUMENTATION_KEY,
    otel_context._SUPPRESS_HTTP_INSTRUMENTATION_KEY,
    "suppress_instrumentation",  # the legacy key some instrumentations still read
)


@dataclass
class ExportStats:
    """What happened to the logs this exporter saw. Read it with :meth:`snapshot`."""

    exported: int = 0
    """Accepted by the API."""
    failed: int = 0
    """Refused by the API, or undeliverable with no spool to keep them."""
    dropped: int = 0
    """Never sent: no dataset, larger than a request may be, ``before_send`` said so or
    failed, or the spool was full."""
    spooled: int = 0
    """Written to the spool directory for a later try."""
    skipped_spans: int = 0
    """Spans without dataset content (HTTP, DB...), which are not logs at all."""
    requests: int = 0
    """Bulk requests sent."""
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        with self.lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            return {
                "exported": self.exported,
                "failed": self.failed,
                "dropped": self.dropped,
                "spooled": self.spooled,
                "skipped_spans": self.skipped_spans,
                "requests": self.requests,
            }


class _GiveUpError(Exception):
    """Delivery of the current batch stops: deadline, shutdown or a refusal to keep."""

    def __init__(self, reason: str, *, keep: bool) -> None:
        super().__init__(reason)
        self.keep = keep


@dataclass
class _Outcome:
    """What was not delivered: kept for later when ``keep``, else counted as failed.

    ``refused`` counts items the API turned down for good; they are already counted.
    """

    undelivered: list[bytes] = field(default_factory=list)
    keep: bool = False
    refused: int = 0


class RespanDatasetExporter(SpanExporter):
    """An OpenTelemetry ``SpanExporter`` that writes spans as Respan dataset logs.

    Constructible with no arguments: every option falls back to its ``RESPAN_*``
    environment variable. Without an API key it logs one warning and sends nothing.

    Args:
        api_key: Bearer key (``RESPAN_API_KEY``).
        base_url: API root, with or without ``/api`` (``RESPAN_BASE_URL``).
        dataset_id: dataset for spans that name none (``RESPAN_DATASET_ID``).
        batch_size: logs per bulk request, at most 500 (``RESPAN_BATCH_SIZE``).
        max_request_bytes: cap on a request body (``RESPAN_MAX_REQUEST_BYTES``).
        requests_per_minute: client-side pacing, 0 for none (``RESPAN_REQUESTS_PER_MINUTE``).
        export_timeout: seconds one ``export()`` may take (``RESPAN_EXPORT_TIMEOUT_SECONDS``).
        request_timeout: seconds one HTTP request may take (``RESPAN_REQUEST_TIMEOUT_SECONDS``).
        spool_dir: where undeliverable logs are kept for later (``RESPAN_SPOOL_DIR``).
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
        requests_per_minute: int | None = None,
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
        self.settings = ExporterSettings.resolve(
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
        settings = self.settings
        if settings.dataset_id is not None and not is_dataset_id(settings.dataset_id):
            raise ValueError(
                f"dataset_id (RESPAN_DATASET_ID) must be a dataset id (a UUID), got "
                f"{settings.dataset_id!r}; pass a dataset name per call site with "
                "@trace(dataset=...) instead"
            )
        self.stats = ExportStats()
        self._rows = RowBuilder(
            rows=settings.rows,
            redactor=get_redactor(settings.redact_keys),
            before_send=before_send,
        )
        self._stop = threading.Event()
        self._closed = False
        self._cap = math.inf
        self._in_flight = 0
        self._counted_at_shutdown = 0
        self._lock = threading.Lock()
        self._dataset_ids: dict[str, str] = {}
        self._pacer = RequestPacer(settings.requests_per_minute)
        self._spool = (
            Spool(settings.spool_dir, max_bytes=settings.spool_max_bytes)
            if settings.spool_dir
            else None
        )
        self._down_until = 0.0
        self._warned: set[str] = set()
        self._client: Any = None
        normalize_base_url(settings.base_url, allow_insecure_http=allow_insecure_http)
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
        self._register_fork_hook()

    def __repr__(self) -> str:
        return f"RespanDatasetExporter({self.settings!r})"

    @property
    def sending(self) -> bool:
        """Whether logs are sent at all (an API key was given)."""
        return self._client is not None

    # -- the SpanExporter interface ------------------------------------------------------

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Deliver the logs of ``spans``; never raises. FAILURE if any could not be sent."""
        if self._closed:
            self._warn_once("shutdown", "respan_otel: export() after shutdown; spans ignored")
            return SpanExportResult.FAILURE
        token = otel_context.attach(_suppressed_context())
        try:
            with self._lock:
                deadline = time.monotonic() + self.settings.export_timeout
                batches = self._prepare(spans)
                self._in_flight = sum(len(logs) for logs in batches.values())
                if self._client is None:
                    self.stats.add(dropped=sum(len(logs) for logs in batches.values()))
                    return SpanExportResult.SUCCESS
                spool_empty = self._replay_spool(deadline)
                ok = spool_empty
                for dataset, logs in batches.items():
                    ok = self._deliver(dataset, logs, deadline, behind=not spool_empty) and ok
                return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE
        except Exception as exc:
            log_internal_error("RespanDatasetExporter.export", exc)
            return SpanExportResult.FAILURE
        finally:
            self._in_flight = 0
            if self._counted_at_shutdown:
                # shutdown gave up waiting and counted this export's logs as dropped;
                # it has now accounted for them itself
                self.stats.add(dropped=-self._counted_at_shutdown)
                self._counted_at_shutdown = 0
            otel_context.detach(token)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Replay the spool now, within ``timeout_millis``. True if it is empty after."""
        if self._client is None or self._spool is None or self._closed:
            return True
        token = otel_context.attach(_suppressed_context())
        try:
            if not self._lock.acquire(timeout=timeout_millis / 1000):
                return False
            try:
                self._down_until = 0.0
                return self._replay_spool(time.monotonic() + timeout_millis / 1000)
            finally:
                self._lock.release()
        except Exception as exc:
            log_internal_error("RespanDatasetExporter.force_flush", exc)
            return False
        finally:
            otel_context.detach(token)

    def limit_to(self, seconds: float) -> None:
        """From now on, no wait or request runs past ``seconds`` from now.

        A shutdown calls this first, so the final export tries what it can within the
        bound and spools or counts the rest, with no thread started at exit.
        """
        self._cap = min(self._cap, time.monotonic() + seconds)

    @contextlib.contextmanager
    def bounded(self, seconds: float) -> Iterator[None]:
        """Within the block, no wait or request runs past ``seconds`` from now."""
        previous = self._cap
        self._cap = min(previous, time.monotonic() + seconds)
        try:
            yield
        finally:
            self._cap = previous

    def _effective(self, deadline: float) -> float:
        return min(deadline, self._cap)

    def shutdown(self, timeout_millis: int = 30_000) -> None:
        """Stop: cut waits short, let a running export spool what it holds, close.

        An export still running when ``timeout_millis`` is up is left to finish on its
        own; its logs are counted as dropped (the process is usually exiting).
        """
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._lock.acquire(timeout=max(0.0, timeout_millis / 1000)):
            try:
                if self._client is not None:
                    self._client.close()
            finally:
                self._lock.release()
        else:
            stuck = self._in_flight
            self._counted_at_shutdown = stuck
            self.stats.add(dropped=stuck)
            logger.warning(
                "respan_otel: an export was still running at shutdown; its %d spans are "
                "counted as dropped",
                stuck,
            )
        counts = self.stats.snapshot()
        summary = ", ".join(f"{name} {value}" for name, value in counts.items())
        if counts["failed"] or counts["dropped"]:
            logger.warning("respan_otel: exporter shut down: %s", summary)
        else:
            logger.info("respan_otel: exporter shut down: %s", summary)

    # -- spans to encoded logs ------------------------------------------------------------

    def _prepare(self, spans: Sequence[ReadableSpan]) -> dict[str, list[bytes]]:
        """Map, filter and encode spans; group the logs by dataset key."""
        batches: dict[str, list[bytes]] = {}
        limit = self.settings.max_request_bytes - _BODY_OVERHEAD
        built = self._rows.build(spans)
        self._count_not_rows(built.not_rows)
        for mapped in built.rows:
            try:
                encoded = _encode(mapped.body)
            except Exception as exc:
                log_internal_error("encoding a dataset log", exc)
                self.stats.add(dropped=1)
                continue
            dataset = mapped.dataset or self.settings.dataset_id
            if dataset is None:
                self._warn_once(
                    "no-dataset",
                    "respan_otel: a span names no dataset and RESPAN_DATASET_ID is not set; "
                    "its log is dropped (set RESPAN_DATASET_ID or @trace(dataset=...))",
                )
                self.stats.add(dropped=1)
                continue
            if len(encoded) > limit:
                logger.warning(
                    "respan_otel: the log of span %016x is %d bytes, over the request cap "
                    "of %d; dropped",
                    mapped.span_id,
                    len(encoded),
                    self.settings.max_request_bytes,
                )
                self.stats.add(dropped=1)
                continue
            batches.setdefault(dataset, []).append(encoded)
        return batches

    def _count_not_rows(self, not_rows: Mapping[str, int]) -> None:
        for reason, count in not_rows.items():
            if reason not in ("before-send", "before-send-type", "mapping-error"):
                # not dataset content, or not a row under the rows setting: skipped
                self.stats.add(skipped_spans=count)
                continue
            if reason == "before-send-type":
                self._warn_once(
                    reason,
                    "respan_otel: before_send must return a dict or None; the log was dropped",
                )
            self.stats.add(dropped=count)

    # -- delivery ---------------------------------------------------------------------------

    def _deliver(
        self, dataset: str, logs: list[bytes], deadline: float, *, behind: bool = False
    ) -> bool:
        """Send one dataset's logs; keep or count what could not be sent.

        ``behind``: older logs are still spooled, so these join them to keep the order.
        """
        outcome = _Outcome()
        if time.monotonic() < self._down_until or (behind and self._spool is not None):
            outcome = _Outcome(list(logs), keep=True)
        else:
            try:
                dataset_id = self._resolve(dataset)
                outcome = self._send_all(dataset_id, logs, deadline)
            except _GiveUpError as stop:
                outcome = _Outcome(list(logs), keep=stop.keep)
        if not outcome.undelivered:
            return True
        self._keep_or_count(dataset, outcome)
        return False

    def _keep_or_count(self, dataset: str, outcome: _Outcome) -> None:
        count = len(outcome.undelivered)
        if outcome.keep and self._spool is not None:
            try:
                written = self._spool.write(dataset, outcome.undelivered)
            except OSError as exc:
                logger.error("respan_otel: could not write to the spool: %s", exc)
                written = False
            if written:
                self.stats.add(spooled=count)
                logger.info("respan_otel: %d logs spooled for a later try", count)
                return
            logger.error("respan_otel: the spool is full; %d logs dropped", count)
            self.stats.add(dropped=count)
            return
        self.stats.add(failed=count)
        logger.error("respan_otel: %d logs could not be delivered and were not kept", count)

    def _replay_spool(self, deadline: float) -> bool:
        """Send spooled batches, oldest first. True when the spool is empty after."""
        if self._spool is None:
            return True
        try:
            return self._replay(self._spool, deadline)
        except OSError as exc:
            self._warn_once("spool-io", f"respan_otel: the spool cannot be read: {exc}")
            return False

    def _replay(self, spool: Spool, deadline: float) -> bool:
        if not spool.pending():
            return True
        if time.monotonic() < self._down_until:
            return False
        for batch in spool.claim():
            try:
                outcome = self._send_all(self._resolve(batch.dataset), batch.logs, deadline)
            except _GiveUpError as stop:
                outcome = _Outcome(list(batch.logs), keep=stop.keep)
            except Exception:
                spool.put_back(batch, batch.logs)
                raise
            if outcome.undelivered and outcome.keep:
                spool.put_back(batch, outcome.undelivered)
                return False
            if outcome.undelivered:
                self.stats.add(failed=len(outcome.undelivered))
            self._replayed(batch, len(batch.logs) - len(outcome.undelivered) - outcome.refused)
        return not spool.pending()

    def _replayed(self, batch: SpooledBatch, delivered: int) -> None:
        assert self._spool is not None
        self._spool.done(batch)
        logger.info("respan_otel: replayed %d spooled logs from %s", delivered, batch.original.name)

    def _resolve(self, dataset: str) -> str:
        """A dataset id for ``dataset`` (an id already, or a name: looked up, or created)."""
        if is_dataset_id(dataset):
            return dataset
        cached = self._dataset_ids.get(dataset)
        if cached is not None:
            return cached
        try:
            found = self._client.datasets.get_or_create(dataset)
        except (RateLimitError, ServerError, APIConnectionError) as exc:
            self._mark_down(exc)
            raise _GiveUpError(str(exc), keep=True) from None
        except RespanError as exc:
            self._explain(exc)
            raise _GiveUpError(str(exc), keep=_keepable(exc)) from None
        self._dataset_ids[dataset] = found.id
        return str(found.id)

    def _send_all(self, dataset_id: str, logs: list[bytes], deadline: float) -> _Outcome:
        """Send ``logs`` in requests within the caps; report what was not delivered."""
        outcome = _Outcome()
        chunks = list(_chunks(logs, self.settings.batch_size, self.settings.max_request_bytes))
        for position, chunk in enumerate(chunks):
            try:
                self._send_chunk(dataset_id, chunk, deadline)
            except _GiveUpError as stop:
                for rest in chunks[position:]:
                    outcome.undelivered.extend(rest)
                outcome.keep = stop.keep
                return outcome
            except _RefusedError as refused:
                outcome.refused += len(refused.items)
                self.stats.add(failed=len(refused.items))
        return outcome

    def _send_chunk(self, dataset_id: str, chunk: list[bytes], deadline: float) -> None:
        """Send one request, retrying what may be retried, splitting on 413."""
        path = f"/api/datasets/{dataset_id}/logs/bulk/"
        payload = b'{"logs":[' + b",".join(chunk) + b"]}"
        attempt = 0
        while True:
            if self._stop.is_set():
                raise _GiveUpError("shutting down", keep=True)
            limit = self._effective(deadline)
            if not self._pacer.acquire(deadline=limit, stop=self._stop):
                raise _GiveUpError("export deadline reached while pacing", keep=True)
            remaining = limit - time.monotonic()
            if remaining <= 0:
                raise _GiveUpError("export deadline reached", keep=True)
            self.stats.add(requests=1)
            try:
                reply = self._client._http.request(
                    "POST",
                    path,
                    content=payload,
                    idempotent=False,
                    retry=False,
                    timeout=min(self.settings.request_timeout, remaining),
                )
            except (RateLimitError, ServerError, APIConnectionError) as exc:
                if isinstance(exc, RateLimitError) and exc.retry_after:
                    self._pacer.note_rate_limited(exc.retry_after)
                delay = _backoff(attempt, exc.retry_after)
                if self._spool is not None and isinstance(exc, APIConnectionError) and attempt:
                    # the backend is unreachable: spool now rather than hold the batch
                    # processor in backoff while its queue fills
                    self._mark_down(exc)
                    raise _GiveUpError(f"{exc}; spooled for later", keep=True) from None
                if time.monotonic() + delay >= self._effective(deadline):
                    self._mark_down(exc)
                    raise _GiveUpError(f"{exc}; no time left to retry", keep=True) from None
                logger.info("respan_otel: %s; retrying in %.1f s", exc, delay)
                if self._stop.wait(delay):
                    raise _GiveUpError("shutting down", keep=True) from None
                attempt += 1
                continue
            except RespanError as exc:
                if exc.status_code == 413:
                    self._split(dataset_id, chunk, deadline)
                    return
                if exc.status_code is not None and 200 <= exc.status_code < 300:
                    # accepted, but the reply is not the expected JSON: the logs are stored
                    self._warn_once("odd-reply", f"respan_otel: {exc}; counted as exported")
                    self.stats.add(exported=len(chunk))
                    return
                self._explain(exc)
                if _keepable(exc):
                    raise _GiveUpError(str(exc), keep=True) from None
                raise _RefusedError(chunk) from None
            self._down_until = 0.0
            self._account(chunk, reply)
            return

    def _split(self, dataset_id: str, chunk: list[bytes], deadline: float) -> None:
        """413: send the halves; a single log the server will not take is refused."""
        if len(chunk) == 1:
            logger.error("respan_otel: the server refused one log as too large (413)")
            raise _RefusedError(chunk)
        middle = len(chunk) // 2
        refused: list[bytes] = []
        for half in (chunk[:middle], chunk[middle:]):
            try:
                self._send_chunk(dataset_id, half, deadline)
            except _RefusedError as inner:
                refused.extend(inner.items)
        if refused:
            raise _RefusedError(refused)

    def _account(self, chunk: list[bytes], reply: Any) -> None:
        """Count a bulk reply; log each per-item error once (they are not re-sent)."""
        errors = reply.get("errors") if isinstance(reply, dict) else None
        if not isinstance(errors, list) or not errors:
            self.stats.add(exported=len(chunk))
            return
        failed = 0
        for error in errors:
            if not isinstance(error, dict):
                continue
            failed += 1
            index, message = error.get("index"), str(error.get("error"))
            logger.error(
                "respan_otel: the API refused log %s of a batch: %s",
                index,
                self._client._http.scrub(message)[:500],
            )
        failed = min(failed, len(chunk))
        self.stats.add(exported=len(chunk) - failed, failed=failed)

    def _mark_down(self, exc: RespanError) -> None:
        """After giving up on a retryable failure, spool straight away for a while."""
        wait = exc.retry_after if exc.retry_after else _BACKOFF_CAP
        self._down_until = time.monotonic() + min(wait, _BACKOFF_CAP)

    def _explain(self, exc: RespanError) -> None:
        hints = {
            AuthenticationError: "check RESPAN_API_KEY",
            PermissionDeniedError: "the API key may not write to this dataset",
            NotFoundError: "check the dataset id (RESPAN_DATASET_ID or @trace(dataset=...))",
        }
        hint = next((text for kind, text in hints.items() if isinstance(exc, kind)), None)
        message = f"respan_otel: {exc}" + (f" ({hint})" if hint else "")
        self._warn_once(f"{type(exc).__name__}:{exc.path}", message, error=True)

    def _warn_once(self, key: str, message: str, *, error: bool = False) -> None:
        if key in self._warned:
            logger.debug(message)
            return
        self._warned.add(key)
        (logger.error if error else logger.warning)(message)

    # -- fork ---------------------------------------------------------------------------------

    def _register_fork_hook(self) -> None:
        reference = weakref.WeakMethod(self._after_fork_in_child)

        def hook() -> None:
            method = reference()
            if method is not None:
                method()

        os.register_at_fork(after_in_child=hook)

    def _after_fork_in_child(self) -> None:
        """The child gets fresh locks; the client replaces its own HTTP session."""
        self._lock = threading.Lock()
        self.stats = ExportStats()
        self._pacer = RequestPacer(self.settings.requests_per_minute)


class _RefusedError(Exception):
    """The API refused these items for good (invalid, or too large)."""

    def __init__(self, items: list[bytes]) -> None:
        super().__init__(f"{len(items)} logs refused")
        self.items = items


def _keepable(exc: RespanError) -> bool:
    """Configuration errors: the logs are fine, so keep them for when it is fixed."""
    return isinstance(exc, (AuthenticationError, PermissionDeniedError, NotFoundError))


def _backoff(attempt: int, retry_after: float | None) -> float:
    """Exponential backoff with jitter; never shorter than what the server asked for."""
    computed = min(_BACKOFF_CAP, _BACKOFF_BASE * 2.0**attempt) * random.uniform(0.8, 1.2)
    return max(computed, retry_after or 0.0)


def _chunks(logs: list[bytes], batch_size: int, max_bytes: int) -> Iterator[list[bytes]]:
    """Consecutive runs of logs within both the count and the byte cap."""
    chunk: list[bytes] = []
    size = _BODY_OVERHEAD
    for item in logs:
        extra = len(item) + (1 if chunk else 0)
        if chunk and (len(chunk) >= batch_size or size + extra > max_bytes):
            yield chunk
            chunk, size, extra = [], _BODY_OVERHEAD, len(item)
        chunk.append(item)
        size += extra
    if chunk:
        yield chunk


_ENCODER: Final = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _encode(body: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON; values standard JSON cannot hold go through the serializer.

    Lone surrogates (which Python strings may hold and UTF-8 cannot) become U+FFFD.
    """
    try:
        text = _ENCODER.encode(body)
    except (TypeError, ValueError, RecursionError):
        text = json.dumps(to_jsonable(body), ensure_ascii=False, separators=(",", ":"))
    return _utf8(text)


def _utf8(text: str) -> bytes:
    try:
        return text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode()


def _suppressed_context() -> otel_context.Context:
    ctx = otel_context.get_current()
    for key in _SUPPRESS_KEYS:
        ctx = otel_context.set_value(key, True, ctx)
    return ctx
