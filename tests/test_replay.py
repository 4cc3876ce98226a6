"""The spool as delivery reads it (``_replay.Replay``): one request's worth of batches per
claim, only the logs to retry kept, attempts counted when the server failed them, early
tries after a flush, and a dataset's waiting batches due once it recovers. A real spool
in a temporary directory."""

from __future__ import annotations

import json
import logging
import os
import time

from respan_otel._export._keeping import Keeper, Notes
from respan_otel._export._replay import Replay
from respan_otel._export._sender import SendResult
from respan_otel._export._spool import Spool, dataset_key
from respan_otel._export._stats import ExportStats

BIG = 1 << 20


def logs(*numbers: int) -> list[bytes]:
    return [json.dumps({"n": n}).encode() for n in numbers]


def numbers(claims) -> list[int]:
    return [json.loads(line)["n"] for claim in claims for line in claim.logs]


def replay_in(directory, **options) -> Replay:
    spool = Spool(directory, max_bytes=BIG, **options)
    return Replay(spool, Keeper(spool, ExportStats(), Notes()))


def test_a_claim_is_one_request_of_the_oldest_dataset_of_a_key(tmp_path):
    replay = replay_in(tmp_path)
    replay.spool.write("ds", logs(1, 2))
    replay.spool.write("ds", logs(3, 4))
    replay.spool.write("ds", logs(5))
    assert list(replay.keys()) == [dataset_key("ds")]
    dataset, claims = replay.claim(dataset_key("ds"), None, max_logs=4, max_bytes=BIG)
    assert dataset == "ds"
    assert numbers(claims) == [1, 2, 3, 4]
    replay.finish("ds", claims, SendResult(accepted=[0, 1, 2, 3]), retry=set())
    _, claims = replay.claim(dataset_key("ds"), "ds", max_logs=4, max_bytes=BIG)
    assert numbers(claims) == [5], "what was accepted is gone"
    Replay.release(claims)


def test_only_the_logs_to_retry_are_kept_and_a_server_failure_counts_an_attempt(tmp_path):
    replay = replay_in(tmp_path)
    replay.spool.write("ds", logs(1, 2))
    replay.spool.write("ds", logs(3))
    _, claims = replay.claim(dataset_key("ds"), "ds", max_logs=10, max_bytes=BIG)
    failed = SendResult(accepted=[0], retry=[1, 2], server_failed=True, cause="503: busy")
    replay.finish("ds", claims, failed, retry={1, 2})
    assert replay.claim(dataset_key("ds"), "ds", max_logs=10, max_bytes=BIG) == ("ds", [])
    for path in tmp_path.rglob("*.jsonl"):
        os.utime(path, (time.time(), time.time()))  # their wait is over
    _, claims = replay.claim(dataset_key("ds"), "ds", max_logs=10, max_bytes=BIG)
    assert numbers(claims) == [2, 3]
    assert [claim.attempts for claim in claims] == [1, 1]
    Replay.release(claims)


def test_a_batch_failing_too_often_is_refused_for_good_with_the_cause(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="respan_otel")
    replay = replay_in(tmp_path, max_attempts=1)
    replay.spool.write("ds", logs(1, 2))
    _, claims = replay.claim(dataset_key("ds"), "ds", max_logs=10, max_bytes=BIG)
    failed = SendResult(retry=[0, 1], server_failed=True, cause="500: boom")
    replay.finish("ds", claims, failed, retry={0, 1})
    assert replay.spool.pending() == []
    assert replay.spool.status()["dead"] == {"files": 1, "logs": 2}
    assert replay.keeper.stats.snapshot()["dead_lettered"] == 2
    assert any("the server failed it 1 times: 500: boom" in r.getMessage() for r in caplog.records)


def test_after_a_flush_each_dataset_gets_one_early_try_and_a_recovery_wakes_the_rest(tmp_path):
    replay = replay_in(tmp_path)
    for batch in (logs(1), logs(2), logs(3)):
        replay.spool.write("ds", batch)
    replay.spool.write("other", logs(9))
    failed = SendResult(retry=[0], server_failed=True, cause="503")
    for key in (dataset_key("ds"), dataset_key("other")):
        while True:
            dataset, claims = replay.claim(key, None, max_logs=1, max_bytes=BIG)
            if not claims:
                break
            replay.finish(dataset or "", claims, failed, retry={0})
    assert replay.claim(dataset_key("ds"), "ds", max_logs=1, max_bytes=BIG) == ("ds", [])

    keys = replay.wake_keys(replay.keys())
    assert sorted(keys) == sorted([dataset_key("ds"), dataset_key("other")]), "each once"
    _, early = replay.claim(dataset_key("ds"), "ds", max_logs=1, max_bytes=BIG)
    assert numbers(early) == [1]
    assert early[0].waiting_until > 0
    _, again = replay.claim(dataset_key("ds"), "ds", max_logs=1, max_bytes=BIG)
    assert again == [], "one early try per dataset"
    replay.finish("ds", early, SendResult(accepted=[0]), retry=set())
    replay.recovered("ds")
    _, rest = replay.claim(dataset_key("ds"), "ds", max_logs=10, max_bytes=BIG)
    assert numbers(rest) == [2, 3]
    Replay.release(rest)
    _, other = replay.claim(dataset_key("other"), "other", max_logs=1, max_bytes=BIG)
    assert numbers(other) == [9], "its own early try"
    Replay.release(other)
