"""Finished spans to encoded logs, grouped by the dataset each goes to.

:class:`Intake` is the exporter's pure front: :class:`~respan_otel._export._rows.RowBuilder`
makes the rows, :func:`~respan_otel._export._encode.encode` their bytes; a row that names
no dataset goes to the default one (``RESPAN_DATASET_ID``). What makes no log is counted:
skipped spans per reason, dropped ones (no dataset, larger than a request may be, the
``before_send`` hook) with a line naming the cause and the fix. No I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from opentelemetry.sdk.trace import ReadableSpan

from respan_otel._datasets import ID_PREFIX
from respan_otel._export._encode import BODY_OVERHEAD, encode
from respan_otel._export._keeping import Notes
from respan_otel._export._rows import INCOMPLETE_TOTALS_NOTE, RowBuilder
from respan_otel._export._stats import ExportStats
from respan_otel._log import log_internal_error, logger

DROPPED_REASONS: Final = frozenset({"before-send", "before-send-type", "mapping-error"})
"""Reasons a span made no row that mean data was lost (the rest are skips)."""


class Intake:
    """Spans to ``{dataset: [encoded log, ...]}``; see the module docstring."""

    def __init__(
        self,
        rows: RowBuilder,
        *,
        default_dataset: str | None,
        max_request_bytes: int,
        stats: ExportStats,
        notes: Notes,
    ) -> None:
        self.rows = rows
        # RESPAN_DATASET_ID is an id whatever it looks like; a call site's value follows
        # the id-or-name rule of respan_otel._datasets
        self.default_key = None if default_dataset is None else ID_PREFIX + default_dataset
        self.max_request_bytes = max_request_bytes
        self.stats = stats
        self.notes = notes

    def logs(self, spans: Sequence[ReadableSpan]) -> dict[str, list[bytes]]:
        """The encoded logs of ``spans``, per dataset, in span order."""
        built = self.rows.build(spans)
        self._count_not_rows(built.not_rows)
        if built.incomplete_totals:
            self.stats.add(incomplete_totals=built.incomplete_totals)
            self.notes.say("incomplete-totals", INCOMPLETE_TOTALS_NOTE, built.incomplete_totals)
        limit = self.max_request_bytes - BODY_OVERHEAD
        groups: dict[str, list[bytes]] = {}
        for row in built.rows:
            dataset = row.dataset or self.default_key
            if dataset is None:
                self.stats.add(dropped=1)
                self.notes.say(
                    "no-dataset",
                    "respan_otel: a span names no dataset and RESPAN_DATASET_ID is not set; "
                    "its log is dropped (set RESPAN_DATASET_ID or @trace(dataset=...))",
                )
                continue
            try:
                encoded = encode(row.body)
            except Exception as exc:
                log_internal_error("encoding a dataset log (the log was dropped)", exc)
                self.stats.add(dropped=1)
                continue
            if len(encoded) > limit:
                self.stats.add(dropped=1)
                self.notes.say(
                    "too-large",
                    "respan_otel: the log of span %016x is %d bytes, over the request cap of "
                    "%d; dropped (raise RESPAN_MAX_REQUEST_BYTES or lower RESPAN_MAX_FIELD_BYTES)",
                    row.span_id,
                    len(encoded),
                    self.max_request_bytes,
                )
                continue
            groups.setdefault(dataset, []).append(encoded)
        return groups

    def _count_not_rows(self, not_rows: Mapping[str, int]) -> None:
        skipped = {r: n for r, n in not_rows.items() if r not in DROPPED_REASONS and n}
        if skipped:
            self.stats.skip(skipped)
        for reason in DROPPED_REASONS:
            count = not_rows.get(reason, 0)
            if not count:
                continue
            self.stats.add(dropped=count)
            if reason == "before-send-type":
                self.notes.say(
                    reason,
                    "respan_otel: before_send must return a dict or None; %d logs dropped "
                    "(fix the hook's return value)",
                    count,
                )
            elif reason == "before-send":
                logger.debug("respan_otel: before_send dropped %d logs", count)
