"""Which finished spans become dataset rows, and each row's body.

The exporter (and the gateway) hand every finished span to :class:`RowBuilder` and send
what comes back; nothing else decides what a row is.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from opentelemetry.sdk.trace import ReadableSpan

from respan_otel._export._mapping import BeforeSend, MappedLog, select_log
from respan_otel._log import log_internal_error
from respan_otel._redact import Redactor
from respan_otel._settings import RowsMode


@dataclass
class RowBatch:
    """The rows made from one sequence of spans, and why the other spans made none."""

    rows: list[MappedLog] = field(default_factory=list)
    # reason -> spans: "no-content", "not-root", "before-send", "before-send-type",
    # "before-send-error", "mapping-error"
    not_rows: Counter[str] = field(default_factory=Counter)


class RowBuilder:
    """Maps spans to rows. ``build`` never raises: a span it cannot map is counted."""

    def __init__(
        self,
        *,
        rows: RowsMode = "useful",
        redactor: Redactor | None = None,
        before_send: BeforeSend | None = None,
    ) -> None:
        self.rows = rows
        self._redactor = redactor
        self._before_send = before_send

    def build(self, spans: Sequence[ReadableSpan]) -> RowBatch:
        batch = RowBatch()
        for span in spans:
            try:
                mapped, reason = select_log(
                    span,
                    only_root_spans=self.rows == "roots",
                    redactor=self._redactor,
                    before_send=self._before_send,
                )
            except Exception as exc:
                log_internal_error("mapping a span to a dataset row (the row was dropped)", exc)
                batch.not_rows["mapping-error"] += 1
                continue
            if mapped is None:
                batch.not_rows[reason or "no-content"] += 1
            else:
                batch.rows.append(mapped)
        return batch
