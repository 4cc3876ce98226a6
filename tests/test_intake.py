"""Finished spans to encoded logs per dataset (``_intake.Intake``): the default dataset
for rows naming none, and every span that makes no log counted (and told when data is
lost). Real spans from the SDK provider; no I/O."""

from __future__ import annotations

import json
import logging

from respan_otel import span
from respan_otel._datasets import ID_PREFIX
from respan_otel._export._intake import Intake
from respan_otel._export._keeping import Notes
from respan_otel._export._rows import RowBuilder
from respan_otel._export._stats import ExportStats

DATASET = "6d0b2c7e-3a6a-4c09-9c7e-1f2d9e2d3f0a"


def intake_with(
    *, default: str | None = DATASET, max_bytes: int = 1 << 20, **rows: object
) -> Intake:
    return Intake(
        RowBuilder(**rows),  # type: ignore[arg-type]
        default_dataset=default,
        max_request_bytes=max_bytes,
        stats=ExportStats(),
        notes=Notes(),
    )


def test_logs_are_grouped_by_dataset_the_default_one_an_id(exporter):
    with span("a", input={"i": 1}):
        pass
    with span("b", input={"i": 2}, dataset="support-eval"):
        pass
    with span("c", input={"i": 3}):
        pass
    intake = intake_with()
    groups = intake.logs(exporter.get_finished_spans())
    assert sorted(groups) == sorted([ID_PREFIX + DATASET, "support-eval"])
    default = [json.loads(line)["input"] for line in groups[ID_PREFIX + DATASET]]
    assert [item["i"] for item in default] == [1, 3], "in span order"
    assert len(groups["support-eval"]) == 1


def test_a_row_with_no_dataset_at_all_is_dropped_counted_and_told(exporter, caplog):
    caplog.set_level(logging.WARNING, logger="respan_otel")
    for i in range(2):
        with span("a", input={"i": i}):
            pass
    intake = intake_with(default=None)
    assert intake.logs(exporter.get_finished_spans()) == {}
    assert intake.stats.snapshot()["dropped"] == 2
    told = [r.getMessage() for r in caplog.records if "names no dataset" in r.getMessage()]
    assert len(told) == 1, "told once"
    assert "set RESPAN_DATASET_ID" in told[0]


def test_a_log_larger_than_a_request_is_dropped_naming_the_fix(exporter, caplog):
    caplog.set_level(logging.WARNING, logger="respan_otel")
    with span("small", input="x"):
        pass
    with span("large", input="x" * 5_000):
        pass
    intake = intake_with(max_bytes=3_000)
    groups = intake.logs(exporter.get_finished_spans())
    assert len(groups[ID_PREFIX + DATASET]) == 1
    assert intake.stats.snapshot()["dropped"] == 1
    assert any("raise RESPAN_MAX_REQUEST_BYTES" in r.getMessage() for r in caplog.records)


def test_what_before_send_drops_or_breaks_is_counted_as_dropped(exporter, caplog):
    caplog.set_level(logging.WARNING, logger="respan_otel")
    for i in range(3):
        with span("a", input={"i": i}):
            pass
    spans = exporter.get_finished_spans()
    dropping = intake_with(before_send=lambda body: None)
    assert dropping.logs(spans) == {}
    assert dropping.stats.snapshot()["dropped"] == 3
    wrong_type = intake_with(before_send=lambda body: "not a dict")
    assert wrong_type.logs(spans) == {}
    assert wrong_type.stats.snapshot()["dropped"] == 3
    assert any("before_send must return a dict" in r.getMessage() for r in caplog.records)


def test_spans_that_are_not_rows_are_skipped_per_reason_not_dropped(exporter, tracer):
    with tracer.start_as_current_span("GET /health"):
        pass
    intake = intake_with()
    assert intake.logs(exporter.get_finished_spans()) == {}
    stats = intake.stats.snapshot()
    assert stats["dropped"] == 0
    assert stats["skipped_spans"] == 1
    assert sum(intake.stats.skipped().values()) == 1
