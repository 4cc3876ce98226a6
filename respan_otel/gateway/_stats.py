"""The gateway's counters: one snapshot, read as JSON (``/stats``) or scraped (``/metrics``)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any, Final

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

PREFIX: Final = "respan_gateway_"

OUTCOMES: Final = (
    "accepted",  # journalled (fsynced) and acknowledged
    "throttled",  # 429: the journal is full
    "unavailable",  # 503: shutting down, or the disk refused the write
    "unauthorized",
    "bad_request",
    "too_large",
    "unsupported",
)

# name -> help; every counter the snapshot holds, in order (gauges listed in GAUGES)
HELP: Final = {
    "received_spans": "Spans in requests the gateway could parse.",
    "durable_spans": "Spans journalled (fsynced) and acknowledged to their sender.",
    "handed_over_spans": "Spans read back from the journal and given to the exporter.",
    "unreadable_spans": "Spans in journal files that could not be read back (set aside).",
    "delivered_rows": "Rows the Respan API accepted.",
    "failed_rows": "Rows refused by the API or dropped (see the gateway's log for causes).",
    "spooled_rows": "Rows written to the exporter's spool for a later try.",
    "not_row_spans": "Spans that are not dataset content (HTTP, DB...), so no row.",
    "upstream_requests": "Bulk requests sent to Respan.",
    "queued_spans": "Spans in the journal, not yet handed to the exporter.",
    "queued_bytes": "Bytes in the journal.",
}
GAUGES: Final = frozenset({"queued_spans", "queued_bytes"})


class RequestCounts:
    """Requests to ``/v1/traces`` by outcome, and spans received and made durable."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.outcomes: Counter[str] = Counter()
        self.received_spans = 0
        self.durable_spans = 0

    def add(self, *, received: int) -> None:
        with self._lock:
            self.received_spans += received

    def count(self, outcome: str, *, durable: int = 0) -> None:
        with self._lock:
            self.outcomes[outcome] += 1
            self.durable_spans += durable

    def snapshot(self) -> tuple[dict[str, int], dict[str, int]]:
        with self._lock:
            spans = {"received_spans": self.received_spans, "durable_spans": self.durable_spans}
            return spans, {outcome: self.outcomes[outcome] for outcome in OUTCOMES}


Snapshot = dict[str, Any]
"""Counter name -> value; ``requests`` maps each outcome to its count."""


class _Exposition(Collector):
    def __init__(self, read: Callable[[], Snapshot]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        snapshot = self._read()
        requests = CounterMetricFamily(
            PREFIX + "requests", "Requests to /v1/traces by outcome.", labels=["outcome"]
        )
        for outcome, count in snapshot["requests"].items():
            requests.add_metric([outcome], count)
        yield requests
        for name, text in HELP.items():
            value = int(snapshot[name])
            family = GaugeMetricFamily if name in GAUGES else CounterMetricFamily
            yield family(PREFIX + name, text, value=value)


def prometheus_text(read: Callable[[], Snapshot]) -> bytes:
    """The snapshot in Prometheus' text format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Exposition(read))
    return generate_latest(registry)
