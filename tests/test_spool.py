"""The disk spool: atomic, ordered, bounded, private, and shared safely between processes
and between exporters of one process (file locks, not pids)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
import time

import pytest

from respan_otel._export._spool import DEAD, MAX_ATTEMPTS, Spool, dataset_key

BIG = 1 << 20


def logs(*numbers: int) -> list[bytes]:
    return [json.dumps({"n": n}).encode() for n in numbers]


def numbers(claims) -> list[int]:
    return [json.loads(line)["n"] for claim in claims for line in claim.logs]


def test_replay_merges_files_into_one_request_in_the_order_written(tmp_path):
    spool = Spool(tmp_path, max_bytes=BIG)
    for n in range(5):
        assert spool.write("ds", logs(n))
    claims = spool.claim(dataset_key("ds"), max_logs=500, max_bytes=BIG)
    assert numbers(claims) == [0, 1, 2, 3, 4], "five files, one request"
    for claim in claims:
        spool.finish(claim, [])
    assert spool.pending() == []


def test_a_claim_fills_one_request_and_stops_at_its_caps(tmp_path):
    """Observed in the fleet benchmark: requests of whole files only carried about 250 logs
    on average (the next file did not fit), half the budget of scarce requests."""
    spool = Spool(tmp_path, max_bytes=BIG)
    for n in range(0, 9, 3):
        spool.write("ds", logs(n, n + 1, n + 2))
    claims = spool.claim(dataset_key("ds"), max_logs=5, max_bytes=BIG)
    assert numbers(claims) == [0, 1, 2, 3, 4], "the next file is split to fill the request"
    for claim in claims:
        spool.finish(claim, [])
    claims = spool.claim(dataset_key("ds"), max_logs=5, max_bytes=BIG)
    assert numbers(claims) == [5, 6, 7, 8], "the rest, in order"
    for claim in claims:
        spool.finish(claim, claim.logs)


def test_datasets_are_kept_apart(tmp_path):
    spool = Spool(tmp_path, max_bytes=BIG)
    spool.write("a", logs(1))
    spool.write("b", logs(2))
    assert sorted(spool.pending_keys()) == sorted([dataset_key("a"), dataset_key("b")])
    (claim,) = spool.claim(dataset_key("b"), max_logs=500, max_bytes=BIG)
    assert claim.dataset == "b"
    spool.finish(claim, [])


def test_a_file_claimed_by_another_exporter_in_this_process_is_not_claimed_again(tmp_path):
    first, second = Spool(tmp_path, max_bytes=BIG), Spool(tmp_path, max_bytes=BIG)
    first.write("ds", logs(1))
    (held,) = first.claim(None, max_logs=500, max_bytes=BIG)
    second.ensure()  # a new exporter starting up releases nothing it does not own
    assert second.claim(None, max_logs=500, max_bytes=BIG) == []
    first.finish(held, [])
    assert second.claim(None, max_logs=500, max_bytes=BIG) == []


def test_a_claim_held_by_a_live_process_in_another_pid_namespace_is_respected(tmp_path):
    """The lock is the kernel's: whatever the holder's pid looks like from here, a live
    holder keeps its claim, and a dead one releases it."""
    spool = Spool(tmp_path, max_bytes=BIG)
    spool.write("ds", logs(7))
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from respan_otel._export._spool import Spool
                spool = Spool({str(tmp_path)!r}, max_bytes=1 << 20)
                claims = spool.claim(None, max_logs=500, max_bytes=1 << 20)
                print(len(claims), flush=True)
                sys.stdin.readline()
                """
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    with holder:
        assert holder.stdout.readline().strip() == "1"
        assert spool.claim(None, max_logs=500, max_bytes=BIG) == [], "a live claim is kept"
        holder.kill()
    (claim,) = spool.claim(None, max_logs=500, max_bytes=BIG)
    assert numbers([claim]) == [7], "a dead holder's claim is free again"
    spool.finish(claim, [])


def test_finishing_with_a_remainder_keeps_it_in_its_place(tmp_path):
    spool = Spool(tmp_path, max_bytes=BIG)
    spool.write("ds", logs(1, 2, 3))
    spool.write("ds", logs(4))
    first, second = spool.claim(dataset_key("ds"), max_logs=500, max_bytes=BIG)
    spool.finish(first, logs(3))
    spool.finish(second, [])
    (claim,) = spool.claim(dataset_key("ds"), max_logs=500, max_bytes=BIG)
    assert numbers([claim]) == [3]
    spool.finish(claim, [])


def test_a_failing_batch_waits_and_never_blocks_the_files_behind_it(tmp_path):
    spool = Spool(tmp_path, max_bytes=BIG)
    spool.write("ds", logs(1))
    spool.write("ds", logs(2))
    first, second = spool.claim(dataset_key("ds"), max_logs=500, max_bytes=BIG)
    assert spool.finish(first, first.logs, failed_attempt=True) is False
    spool.finish(second, second.logs)
    (claim,) = spool.claim(dataset_key("ds"), max_logs=500, max_bytes=BIG)
    assert numbers([claim]) == [2], "the failed file waits; the next one is not held back"
    spool.finish(claim, [])


def test_a_batch_failing_too_often_is_to_be_dead_lettered(tmp_path):
    spool = Spool(tmp_path, max_bytes=BIG, max_attempts=2)
    spool.write("ds", logs(1))
    (claim,) = spool.claim(None, max_logs=500, max_bytes=BIG)
    assert spool.finish(claim, claim.logs, failed_attempt=True) is False
    path = next(p for p in tmp_path.rglob("*.jsonl"))
    os.utime(path, (time.time(), time.time()))  # its wait is over
    (claim,) = spool.claim(None, max_logs=500, max_bytes=BIG)
    assert claim.attempts == 1
    assert spool.finish(claim, claim.logs, failed_attempt=True) is True
    assert spool.pending() == []
    assert MAX_ATTEMPTS >= 5


def test_dead_letters_are_kept_apart_counted_and_can_be_requeued(tmp_path):
    spool = Spool(tmp_path, max_bytes=BIG)
    assert spool.dead_letter("ds", logs(1, 2), "404 no such dataset")
    assert spool.pending() == []
    status = spool.status()
    assert status["dead"] == {"files": 1, "logs": 2}
    header = json.loads(next((tmp_path / DEAD).iterdir()).read_bytes().splitlines()[0])
    assert header["reason"] == "404 no such dataset"
    assert spool.requeue_dead() == 1
    assert spool.status()["datasets"] == {"ds": {"files": 1, "logs": 2}}


def test_unreadable_files_are_set_aside(tmp_path):
    spool = Spool(tmp_path, max_bytes=BIG)
    spool.write("ds", logs(1))
    folder = tmp_path / dataset_key("ds")
    (folder / "00000000000000000001-junk.jsonl").write_bytes(b"not json\n{}\n")
    (claim,) = spool.claim(None, max_logs=500, max_bytes=BIG)
    assert numbers([claim]) == [1], "an unreadable file holds nothing back"
    spool.finish(claim, [])
    assert len(list((tmp_path / DEAD).glob("*.unreadable"))) == 1


def test_files_of_an_older_version_at_the_top_level_are_replayed(tmp_path):
    (tmp_path / "00000000000000000001-123-000000.jsonl").write_bytes(
        b'{"dataset": "old"}\n{"n": 5}\n'
    )
    spool = Spool(tmp_path, max_bytes=BIG)
    (claim,) = spool.claim(None, max_logs=500, max_bytes=BIG)
    assert (claim.dataset, numbers([claim])) == ("old", [5])
    spool.finish(claim, [])


def test_the_spool_is_private_to_its_user(tmp_path):
    spool = Spool(tmp_path / "spool", max_bytes=BIG)
    spool.write("ds", logs(1))
    assert stat.S_IMODE((tmp_path / "spool").stat().st_mode) == 0o700
    (path,) = (tmp_path / "spool").rglob("*.jsonl")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_size_cap_refuses_a_batch_that_does_not_fit(tmp_path):
    spool = Spool(tmp_path, max_bytes=100)
    assert spool.write("ds", [b"x" * 40])
    assert not spool.write("ds", [b"x" * 40])


def test_a_starting_process_never_deletes_a_file_another_process_is_writing(tmp_path):
    """A temporary file whose writer is alive (holding its lock) survives a start-up
    clean-up, however old it looks; one nobody holds is removed."""
    folder = tmp_path / dataset_key("ds")
    folder.mkdir(parents=True)
    busy, abandoned = folder / ".tmp-busy.jsonl", folder / ".tmp-abandoned.jsonl"
    abandoned.write_bytes(b"x")
    old = time.time() - 3600
    os.utime(abandoned, (old, old))
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import fcntl, os, sys
                handle = open({str(busy)!r}, "wb")
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
                os.utime({str(busy)!r}, ({old}, {old}))
                print("writing", flush=True)
                sys.stdin.readline()
                """
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    with writer:
        assert writer.stdout.readline().strip() == "writing"
        Spool(tmp_path, max_bytes=BIG).ensure()
        assert busy.exists(), "a live writer's file was deleted"
        assert not abandoned.exists()
        writer.kill()


@pytest.mark.parametrize("unwritable", ["a-file-in-its-place", "read-only"])
def test_writing_to_an_unusable_directory_raises_oserror(tmp_path, unwritable):
    target = tmp_path / "spool"
    if unwritable == "a-file-in-its-place":
        target.write_text("not a directory")
    else:
        target.mkdir()
        target.chmod(0o500)
        if os.access(target, os.W_OK):
            pytest.skip("running as a user who can write anywhere")
    with pytest.raises(OSError, match=r"\["):
        Spool(target, max_bytes=BIG).write("ds", logs(1))


def test_a_file_holding_more_than_one_request_is_split_in_its_place(tmp_path):
    """Observed in the 19,000-call burst: a spooled batch of 1,513 logs went out as one
    request, which the API refuses (at most 500)."""
    spool = Spool(tmp_path, max_bytes=BIG)
    spool.write("ds", logs(*range(12)))
    spool.write("ds", logs(99))
    claims = spool.claim(dataset_key("ds"), max_logs=5, max_bytes=BIG)
    assert numbers(claims) == [0, 1, 2, 3, 4]
    for claim in claims:
        spool.finish(claim, [])
    seen = []
    while claims := spool.claim(dataset_key("ds"), max_logs=5, max_bytes=BIG):
        seen += numbers(claims)
        for claim in claims:
            spool.finish(claim, [])
    assert seen == [5, 6, 7, 8, 9, 10, 11, 99], "the rest, in order, before the next file"


def test_an_early_claim_takes_waiting_batches_and_a_failed_early_try_counts_as_none(tmp_path):
    """A flush tries a batch that waits after a failure before its time: if it fails again,
    the batch keeps its attempts and its time (flushes never wear it out); a file of
    more than one request is split as usual, its parts waiting as it did. ``wake`` makes
    one dataset's waiting batches due."""
    spool = Spool(tmp_path, max_bytes=BIG)
    spool.write("ds", logs(*range(2, 8)))
    spool.write("ds", logs(8))
    spool.write("other", logs(9))
    for key in (dataset_key("ds"), dataset_key("other")):
        for claim in spool.claim(key, max_logs=500, max_bytes=BIG):
            spool.finish(claim, claim.logs, failed_attempt=True)
    assert all(p.stat().st_mtime > time.time() for p in tmp_path.rglob("*.jsonl"))
    assert spool.claim(dataset_key("ds"), max_logs=500, max_bytes=BIG) == [], "they wait"

    split = spool.claim(dataset_key("ds"), max_logs=4, max_bytes=BIG, early=True)
    assert numbers(split) == [2, 3, 4, 5], "the oldest, split to one request"
    assert split[0].waiting_until > time.time()
    assert spool.finish(split[0], split[0].logs, failed_attempt=True) is False
    now = time.time()
    assert all(p.stat().st_mtime > now for p in tmp_path.rglob("*.jsonl")), "all still wait"
    headers = [json.loads(p.read_bytes().splitlines()[0]) for p in tmp_path.rglob("*.jsonl")]
    assert [h["attempts"] for h in headers] == [1] * 4, "an early try counts as none"

    spool.wake(dataset_key("ds"))
    claims = spool.claim(dataset_key("ds"), max_logs=500, max_bytes=BIG)
    assert numbers(claims) == [2, 3, 4, 5, 6, 7, 8]
    assert all(claim.waiting_until == 0 for claim in claims)
    assert spool.claim(dataset_key("other"), max_logs=500, max_bytes=BIG) == [], "not woken"
    for claim in claims:
        spool.finish(claim, [])


def test_a_temporary_file_is_never_taken_for_a_batch(tmp_path):
    """A writer's temporary file (``.tmp-<name>.jsonl``, also ending in ``.jsonl``) is not a
    batch until it is renamed: it is neither listed, counted nor claimed, whichever way
    the spool is read (by dataset, or all datasets at once)."""
    spool = Spool(tmp_path, max_bytes=BIG)
    assert spool.write("ds", logs(1))
    # a writer that died after writing, before the rename (too fresh to be cleaned up)
    header = json.dumps({"dataset": "ds", "attempts": 0}).encode()
    (tmp_path / dataset_key("ds") / ".tmp-unfinished.jsonl").write_bytes(
        header + b"\n" + b"\n".join(logs(2, 3)) + b"\n"
    )
    assert [p.name.startswith(".tmp-") for p in spool.pending()] == [False]
    assert spool.status()["datasets"] == {"ds": {"files": 1, "logs": 1}}
    claims = spool.claim(None, max_logs=500, max_bytes=BIG)
    assert numbers(claims) == [1]
    for claim in claims:
        spool.finish(claim, [])
