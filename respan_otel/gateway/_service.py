"""``Gateway``: the receiver, the journal and the one sender, wired and served by uvicorn."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Collection
from pathlib import Path
from typing import Final

import uvicorn

from respan_otel._export._exporter import RespanDatasetExporter
from respan_otel._log import logger
from respan_otel.gateway._app import Throttled, build_app
from respan_otel.gateway._decode import PROTOBUF, decompress, parse_request, span_count
from respan_otel.gateway._delivery import Delivery
from respan_otel.gateway._journal import Journal, JournalFullError
from respan_otel.gateway._sent import SentRequests
from respan_otel.gateway._stats import RequestCounts, Snapshot

DEFAULT_PORT: Final = 4318
"""OTLP/HTTP's registered port, so ``OTEL_EXPORTER_OTLP_ENDPOINT=http://host:4318`` works."""
DEFAULT_JOURNAL_MAX_BYTES: Final = 1024 * 1024 * 1024
DEFAULT_MAX_BODY_BYTES: Final = 64 * 1024 * 1024
"""Same as the stock Python OTLP exporter's own request cap."""
DEFAULT_RETRY_AFTER_SECONDS: Final = 5
_START_TIMEOUT_SECONDS: Final = 10.0
_MAX_CONNECTIONS: Final = 2048
"""Beyond this many open connections uvicorn answers 503 (the OTLP exporters retry)."""


class Gateway:
    """An OTLP/HTTP endpoint whose spans become Respan rows, sent at one budget.

    Args:
        directory: where the journal (``journal/``) and the exporter's spool (``spool/``)
            live; keep it on a local disk that survives restarts.
        tokens: the client tokens accepted as ``Authorization: Bearer <token>``; never
            the Respan API key, which only the gateway holds.
        exporter: the one exporter (default: from ``RESPAN_*`` variables, spooling
            under ``directory``). It must have an API key and a spool directory.
        host: interface to bind; loopback unless told otherwise.
        port: TCP port, 0 for a free one (see :attr:`url`).
        journal_max_bytes: beyond this the gateway answers 429 with ``Retry-After``.
        max_body_bytes: largest request body, compressed or not (413 beyond).
        retry_after: seconds told to clients that are throttled.
        linger: seconds the oldest waiting span may wait for others to fill a request
            (default: one request slot, 60 / requests per minute).
        max_spans: spans handed to the exporter at once (default: 4 full requests).
    """

    def __init__(
        self,
        *,
        directory: str | os.PathLike[str],
        tokens: Collection[str],
        exporter: RespanDatasetExporter | None = None,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        journal_max_bytes: int = DEFAULT_JOURNAL_MAX_BYTES,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        retry_after: int = DEFAULT_RETRY_AFTER_SECONDS,
        linger: float | None = None,
        max_spans: int | None = None,
    ) -> None:
        root = Path(directory)
        exporter = exporter or RespanDatasetExporter(spool_dir=root / "spool")
        if not exporter.sending:
            raise ValueError(
                "the gateway needs the Respan API key: set RESPAN_API_KEY where the gateway "
                "runs (clients use their own tokens)"
            )
        if exporter.settings.spool_dir is None:
            raise ValueError("the gateway's exporter needs a spool directory (spool_dir=)")
        if exporter.settings.api_key in tokens:
            raise ValueError(
                "a client token must not be the Respan API key; give clients tokens of their own"
            )
        settings = exporter.settings
        rate = settings.requests_per_minute
        self.host, self.port = host, port
        self.retry_after = retry_after
        self.max_body_bytes = max_body_bytes
        self.closing = False
        self.exporter = exporter
        self.journal = Journal(root / "journal", max_bytes=journal_max_bytes)
        self.delivery = Delivery(
            self.journal,
            exporter,
            max_spans=max_spans or settings.batch_size * 4,
            batch=settings.batch_size,
            requests_per_minute=rate,
            linger=linger if linger is not None else (60.0 / rate if rate > 0 else 0.5),
        )
        assert exporter.delivery is not None  # sending, checked above
        self.sent = SentRequests(root, exporter.delivery.pacer)
        self.requests = RequestCounts()
        self.app = build_app(self, tokens)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._disk_error: str | None = None

    # -- what the app calls --------------------------------------------------------------

    def accept(self, body: bytes, encoding: str, kind: str) -> int:
        """Parse and journal one request (fsynced); the number of spans it held."""
        plain = decompress(body, encoding, max_bytes=self.max_body_bytes)
        request = parse_request(plain, kind)
        spans = span_count(request)
        self.requests.add(received=spans)
        if spans:
            payload = plain if kind == PROTOBUF else request.SerializeToString()
            try:
                self.journal.append(payload, spans)
            except JournalFullError:
                raise Throttled(429, "the gateway's journal is full; retry later") from None
            except OSError as exc:
                if self._disk_error is None:
                    logger.error(
                        "respan_otel gateway: cannot write the journal in %s: %s; requests "
                        "get 503 until it can (free disk space or fix permissions)",
                        self.journal.directory,
                        exc,
                    )
                self._disk_error = str(exc)
                raise Throttled(503, "the gateway cannot write its journal now") from None
            self._disk_error = None
        self.requests.count("accepted", durable=spans)
        return spans

    def count(self, outcome: str) -> None:
        self.requests.count(outcome)

    def readiness(self) -> dict[str, bool]:
        return {
            "serving": not self.closing,
            "delivering": self.delivery.alive,
            "journal_writable": self._disk_error is None,
            "journal_not_full": not self.journal.full(),
        }

    def snapshot(self) -> Snapshot:
        spans, outcomes = self.requests.snapshot()
        exported = self.exporter.stats.snapshot()
        return {
            **spans,
            "handed_over_spans": self.delivery.handed_over,
            "unreadable_spans": self.delivery.unreadable,
            "delivered_rows": exported["exported"],
            "failed_rows": exported["failed"] + exported["dropped"],
            "spooled_rows": exported["spooled"],
            "not_row_spans": exported["skipped_spans"],
            "upstream_requests": exported["requests"],
            "queued_spans": self.journal.queued_spans,
            "queued_bytes": self.journal.queued_bytes,
            "requests": outcomes,
        }

    # -- running -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://host:port`` once started (the OTLP endpoint is ``url + "/v1/traces"``)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def _open(self) -> uvicorn.Server:
        self.journal.open()
        restored = self.sent.attach()  # before any request: the window is the org's
        if restored:
            logger.info(
                "respan_otel gateway: %d requests of the last minute count against this start",
                restored,
            )
        self.delivery.start()
        config = uvicorn.Config(
            self.app,
            host=self.host,
            port=self.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            limit_concurrency=_MAX_CONNECTIONS,
            timeout_graceful_shutdown=5,
        )
        self._server = uvicorn.Server(config)
        return self._server

    def start(self) -> Gateway:
        """Serve from a background thread (tests, embedding); returns once listening."""
        server = self._open()
        self._thread = threading.Thread(target=server.run, name="respan-gateway", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_SECONDS
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.delivery.stop(1.0)
                raise RuntimeError(f"the gateway could not listen on {self.host}:{self.port}")
            time.sleep(0.01)
        self.port = server.servers[0].sockets[0].getsockname()[1]
        logger.info("respan_otel gateway listening on %s", self.url)
        return self

    def serve(self) -> None:
        """Serve in the foreground until SIGINT/SIGTERM, then stop cleanly (the CLI)."""
        server = self._open()
        try:
            server.run()
        finally:
            self.stop()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking requests, let the current export finish or spool, keep the rest."""
        self.closing = True
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        self.delivery.stop(timeout)
        left = self.journal.queued_spans
        if left:
            logger.info("respan_otel gateway: %d spans stay journalled for the next start", left)
