"""Logs held in memory per dataset (``_holding.Holding``): bounded, in order, and each
dataset's wait after a failure. A real spool in a temporary directory takes what
overflows."""

from __future__ import annotations

import json
import logging
import time

import pytest

import respan_otel._export._holding as holding_module
from respan_otel._export._encode import request_body
from respan_otel._export._holding import Holding
from respan_otel._export._keeping import Keeper, Notes
from respan_otel._export._spool import Spool
from respan_otel._export._stats import ExportStats


def logs(*numbers: int) -> list[bytes]:
    return [json.dumps({"n": n}).encode() for n in numbers]


def holding_with(spool: Spool | None, *, hold_limit: int = 100) -> Holding:
    return Holding(Keeper(spool, ExportStats(), Notes()), hold_limit=hold_limit)


def spooled(spool: Spool) -> list[int]:
    """The logs in the spool's files, oldest file first."""
    found = []
    for path in sorted(spool.directory.rglob("*.jsonl"), key=lambda p: p.name):
        found += [json.loads(line)["n"] for line in path.read_bytes().splitlines()[1:]]
    return found


def test_beyond_the_limit_the_oldest_go_to_the_spool(tmp_path):
    spool = Spool(tmp_path, max_bytes=1 << 20)
    holding = holding_with(spool, hold_limit=3)
    holding.add("ds", logs(1, 2))
    holding.add("ds", logs(3, 4, 5))
    assert holding.count() == 3
    assert spooled(spool) == [1, 2]
    assert holding.take("ds", [], batch_size=10, max_bytes=1 << 20) == logs(3, 4, 5)


def test_with_nowhere_to_spool_beyond_twice_the_limit_logs_are_dropped_and_told(caplog):
    caplog.set_level(logging.WARNING, logger="respan_otel")
    holding = holding_with(None, hold_limit=2)
    holding.add("ds", logs(1, 2, 3, 4, 5))
    assert holding.count() == 4
    assert holding.keeper.stats.snapshot()["dropped"] == 1
    assert any("make RESPAN_SPOOL_DIR writable" in r.getMessage() for r in caplog.records)
    assert holding.take("ds", [], batch_size=10, max_bytes=1 << 20) == logs(2, 3, 4, 5)


def test_a_request_is_filled_after_the_spooled_logs_within_both_caps():
    holding = holding_with(None)
    holding.add("ds", logs(*range(10)))
    assert holding.take("ds", logs(100, 101), batch_size=5, max_bytes=1 << 20) == logs(0, 1, 2)
    two_logs = request_body(logs(3, 4))
    assert holding.take("ds", [], batch_size=50, max_bytes=len(two_logs)) == logs(3, 4)
    assert holding.take("other", [], batch_size=5, max_bytes=1 << 20) == []
    holding.put_back("ds", logs(3, 4))
    assert holding.take("ds", [], batch_size=2, max_bytes=1 << 20) == logs(3, 4), "in order"


def test_a_small_batch_lingers_a_full_one_goes_at_once():
    holding = holding_with(None)
    holding.add("small", logs(1))
    holding.add("full", logs(*range(5)))
    assert holding.ready(batch_size=5, linger=60) == (["full"], set())
    assert sorted(holding.ready(batch_size=5, linger=0)[0]) == ["full", "small"]


def test_a_failed_dataset_waits_alone_until_its_time_or_a_flush(monkeypatch):
    monkeypatch.setattr(holding_module, "BACKOFF_BASE", 10.0)
    holding = holding_with(None)
    holding.add("bad", logs(1))
    holding.add("good", logs(2))
    wait = holding.backoff("bad")
    assert 8 <= wait <= 12
    holding.failed("bad", wait=wait, cause="503")
    assert holding.ready(batch_size=1, linger=0) == (["good"], {"bad"})
    assert holding.next_wake(spooled=set()) == pytest.approx(time.monotonic() + wait, abs=1)
    assert 16 <= holding.backoff("bad") <= 24, "doubling with the failures in a row"
    holding.lift_waits()
    assert sorted(holding.ready(batch_size=1, linger=0)[0]) == ["bad", "good"]
    assert holding.failures("bad") == 1, "a flush lifts the wait, not the count"
    assert holding.succeeded("bad") is True
    assert holding.succeeded("bad") is False
    monkeypatch.setattr(holding_module, "BACKOFF_BASE", 1e6)
    assert holding.backoff("bad") <= holding_module.BACKOFF_CAP * 1.2


def test_only_failing_datasets_are_spooled_between_rounds_and_spill_takes_the_rest(tmp_path):
    spool = Spool(tmp_path, max_bytes=1 << 20)
    holding = holding_with(spool)
    holding.add("paced", logs(1))
    holding.add("failing", logs(2))
    holding.failed("failing", wait=5, cause="503: busy")
    holding.spool_failing()
    assert spooled(spool) == [2]
    assert holding.count() == 1
    assert holding.spill("exit") == 1
    assert sorted(spooled(spool)) == [1, 2]
    assert holding.count() == 0


def test_what_the_spool_cannot_take_stays_held_or_is_counted(tmp_path):
    not_a_directory = tmp_path / "spool"
    not_a_directory.write_text("")
    holding = holding_with(Spool(not_a_directory, max_bytes=1 << 20))
    holding.add("ds", logs(1, 2))
    assert holding.spill("export deadline", count_loss=False) == 2
    assert holding.count() == 2
    assert holding.spill("exit") == 2
    assert holding.count() == 0
    assert holding.keeper.stats.snapshot()["failed"] == 2
