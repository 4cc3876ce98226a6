"""The disk spool: atomic, ordered, bounded, and shared safely between processes."""

from __future__ import annotations

import json
import subprocess
import sys

from respan_otel._export._spool import Spool


def test_batches_come_back_in_the_order_they_were_written(tmp_path):
    spool = Spool(tmp_path, max_bytes=1 << 20)
    for n in range(5):
        assert spool.write("ds", [json.dumps({"n": n}).encode()])
    got = [json.loads(batch.logs[0])["n"] for batch in spool.claim()]
    assert got == [0, 1, 2, 3, 4]


def test_claimed_batches_are_not_pending_and_done_removes_them(tmp_path):
    spool = Spool(tmp_path, max_bytes=1 << 20)
    spool.write("ds-a", [b'{"a":1}', b'{"a":2}'])
    (batch,) = list(spool.claim())
    assert batch.dataset == "ds-a"
    assert batch.logs == [b'{"a":1}', b'{"a":2}']
    assert spool.pending() == []
    spool.done(batch)
    assert list(tmp_path.iterdir()) == []


def test_put_back_keeps_the_remainder_in_its_place(tmp_path):
    spool = Spool(tmp_path, max_bytes=1 << 20)
    spool.write("ds", [b"1", b"2", b"3"])
    spool.write("ds", [b"4"])
    first = next(iter(spool.claim()))
    spool.put_back(first, [b"3"])
    assert [batch.logs for batch in spool.claim()] == [[b"3"], [b"4"]]


def test_the_size_cap_refuses_what_does_not_fit(tmp_path):
    spool = Spool(tmp_path, max_bytes=2_000)
    assert spool.write("ds", [b"x" * 900])
    assert not spool.write("ds", [b"y" * 1_500])
    assert len(spool.pending()) == 1


def test_unreadable_files_are_set_aside(tmp_path):
    spool = Spool(tmp_path, max_bytes=1 << 20)
    (tmp_path / "00000000000000000001-1-000000.jsonl").write_bytes(b"not json\n{}")
    spool.write("ds", [b"{}"])
    batches = list(spool.claim())
    assert [b.dataset for b in batches] == ["ds"]
    assert len(list(tmp_path.glob("*.broken"))) == 1


def test_a_claim_left_by_a_dead_process_is_released(tmp_path):
    spool = Spool(tmp_path, max_bytes=1 << 20)
    spool.write("ds", [b"{}"])
    (pending,) = spool.pending()
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    pending.rename(pending.with_name(f"{pending.name}.replaying-{dead.stdout.strip()}"))
    assert Spool(tmp_path, max_bytes=1 << 20).pending() == []
    fresh = Spool(tmp_path, max_bytes=1 << 20)
    assert [batch.dataset for batch in fresh.claim()] == ["ds"]


def test_writes_are_atomic_no_temporary_files_remain(tmp_path):
    spool = Spool(tmp_path, max_bytes=1 << 20)
    for _ in range(20):
        spool.write("ds", [b"{}"] * 10)
    names = [path.name for path in tmp_path.iterdir()]
    assert len(names) == 20
    assert not [name for name in names if name.startswith(".tmp-")]
