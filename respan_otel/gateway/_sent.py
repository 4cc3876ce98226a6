"""The times of the gateway's last requests to Respan, kept on disk across restarts.

Respan counts an organisation's bulk requests in a sliding 60-second window. A gateway
that restarts (after ``kill -9`` too) must not forget the requests it sent in the current
window, or it would spend them again at once and draw 429s. So every request's wall-clock
time is written, before the request leaves, to ``sent-requests.json`` beside the journal,
and a starting gateway hands the ones still inside the window to its pacer.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Final

from respan_otel._export._pacer import MARGIN_SECONDS, WINDOW_SECONDS, RequestPacer
from respan_otel._log import logger

FILE_NAME: Final = "sent-requests.json"
_KEEP_SECONDS: Final = WINDOW_SECONDS + MARGIN_SECONDS


class SentRequests:
    """Keeps ``pacer``'s request times in ``directory`` and restores them on :meth:`attach`."""

    def __init__(self, directory: Path, pacer: RequestPacer) -> None:
        self.path = directory / FILE_NAME
        self.pacer = pacer
        self._times: list[float] = []
        self._lock = threading.Lock()
        self._warned = False

    def attach(self) -> int:
        """Seed the pacer with the last run's requests still in the window, then record
        every new one; returns how many were restored."""
        now = time.time()
        try:
            loaded = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            loaded = []
        except (OSError, ValueError) as exc:
            logger.warning(
                "respan_otel gateway: cannot read %s (%s); the first requests after this "
                "start may draw 429s from Respan (nothing is lost: they are retried)",
                self.path,
                exc,
            )
            loaded = []
        recent = [t for t in loaded if isinstance(t, (int, float)) and 0 <= now - t < _KEEP_SECONDS]
        self._times = sorted(recent)
        self.pacer.seed(now - t for t in self._times)
        self.pacer.on_sent = self._sent
        return len(self._times)

    def _sent(self) -> None:
        now = time.time()
        with self._lock:
            self._times = [t for t in self._times if now - t < _KEEP_SECONDS] + [now]
            data = json.dumps(self._times).encode()
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                scratch = self.path.with_suffix(".tmp")
                with scratch.open("wb") as sink:
                    sink.write(data)
                    sink.flush()
                    os.fsync(sink.fileno())
                scratch.replace(self.path)
            except OSError as exc:
                if not self._warned:
                    self._warned = True
                    logger.warning(
                        "respan_otel gateway: cannot write %s (%s); after a restart the "
                        "gateway may draw 429s from Respan until a minute has passed (free "
                        "disk space or fix permissions of the gateway directory)",
                        self.path,
                        exc,
                    )
