"""One spool file (``_spool_file``): its format, its atomic private write, its claim by an
exclusive lock, and the clean-up of temporary files whose writer died."""

from __future__ import annotations

import os
import stat
import time

import pytest

from respan_otel._export._spool_file import (
    TMP,
    UnreadableFileError,
    claim_file,
    lock,
    payload,
    remove_abandoned_temporaries,
    write_file,
)

needs_flock = pytest.mark.skipif(not hasattr(os, "fork"), reason="file locks need POSIX")


def test_a_written_file_is_private_and_claimed_with_its_header(tmp_path):
    path = tmp_path / "batch.jsonl"
    write_file(path, payload({"dataset": "ds", "attempts": 2}, [b'{"n":1}', b'{"n":2}']))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["batch.jsonl"], "no temporary left"
    claim = claim_file(path, done=())
    assert claim is not None
    assert (claim.dataset, claim.attempts, claim.logs) == ("ds", 2, [b'{"n":1}', b'{"n":2}'])
    claim.handle.close()


@needs_flock
def test_a_file_held_by_another_claim_or_already_done_is_not_claimed(tmp_path):
    path = tmp_path / "batch.jsonl"
    write_file(path, payload({"dataset": "ds"}, [b"{}"]))
    first = claim_file(path, done=())
    assert first is not None
    assert claim_file(path, done=()) is None, "locked by the first claim"
    first.handle.close()
    opened = path.stat()
    assert claim_file(path, done={(opened.st_dev, opened.st_ino)}) is None
    again = claim_file(path, done=())
    assert again is not None, "free once released"
    again.handle.close()
    path.unlink()
    assert claim_file(path, done=()) is None, "gone: finished by someone else"


@pytest.mark.parametrize("content", [b"", b"not json\n{}\n", b'{"attempts": 1}\n{}\n'])
def test_a_file_whose_header_cannot_be_read_is_reported_with_its_lock(tmp_path, content):
    path = tmp_path / "batch.jsonl"
    path.write_bytes(content)
    with pytest.raises(UnreadableFileError) as raised:
        claim_file(path, done=())
    raised.value.handle.close()


@needs_flock
def test_only_old_temporaries_nobody_holds_are_removed(tmp_path):
    old = time.time() - 3600
    abandoned, writing, fresh = (tmp_path / f"{TMP}{name}.jsonl" for name in "abc")
    for path in (abandoned, writing, fresh):
        path.write_bytes(b"{}\n")
    for path in (abandoned, writing):
        os.utime(path, (old, old))
    with writing.open("rb") as held:
        assert lock(held)
        remove_abandoned_temporaries(tmp_path)
    assert not abandoned.exists()
    assert writing.exists(), "its writer still holds it"
    assert fresh.exists(), "too young to be abandoned"
