"""Process lifecycle: what reaches the server when a configured process exits, is sent
SIGTERM, hits a dead backend at exit, or forks.

Scripts that must have spans still buffered at a given moment lengthen the batch
processor's delay (``respan_otel._export._processor.SCHEDULE_DELAY_SECONDS``, read when
``configure()`` builds it) so that nothing is sent before that moment by chance.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time

import pytest

from tests.faulty_server import FaultyServer, Reply
from tests.scripts.harness import (
    DATASET_ID,
    child_env,
    env_for,
    local_respan,
    logs_of,
    run,
    start,
    wait_for_line,
)

TRACED = """
import os
import signal
import sys
import time

import respan_otel
import respan_otel._export._processor
from respan_otel import trace


@trace
def step(who, i):
    return {"who": who, "double": i * 2}
"""

HOLD_SPANS = """
respan_otel._export._processor.SCHEDULE_DELAY_SECONDS = 60.0  # nothing leaves before the moment
"""


def test_normal_interpreter_exit_flushes_everything():
    with local_respan() as (server, client):
        dataset = client.datasets.create(name="exit", is_empty=True)
        result = run(
            TRACED
            + """
respan_otel.configure()
for i in range(50):
    step("exit", i)
# no flush(), no shutdown(): the interpreter just ends
""",
            env_for(server, dataset.id),
        ).check()
        logs = logs_of(client, dataset.id)
    assert sorted(log.input["i"] for log in logs) == list(range(50))
    assert len(logs) == 50, "each span stored exactly once"
    assert result.warnings() == []
    assert result.elapsed < 10


def test_the_exit_flush_works_where_no_thread_may_start_at_shutdown():
    """CPython 3.12.0 and 3.12.1 refuse to start a thread in an ``atexit`` handler
    (``RuntimeError: can't create new thread at interpreter shutdown``). Simulated here
    on any version: an ``atexit`` handler registered after ``configure()`` runs before
    ours and makes ``Thread.start`` refuse, as those interpreters do."""
    with local_respan() as (server, client):
        dataset = client.datasets.create(name="exit-no-threads", is_empty=True)
        result = run(
            TRACED
            + """
import atexit
import threading

respan_otel.configure()
for i in range(10):
    step("exit", i)


def refuse(self):
    raise RuntimeError("can't create new thread at interpreter shutdown")


atexit.register(lambda: setattr(threading.Thread, "start", refuse))
""",
            env_for(server, dataset.id),
        ).check()
        logs = logs_of(client, dataset.id)
    assert sorted(log.input["i"] for log in logs) == list(range(10)), result.stderr
    assert "Traceback" not in result.stderr, result.stderr


@pytest.mark.parametrize("spool", ["default", "off"])
def test_the_exit_flush_is_bounded_by_the_shutdown_timeout_when_the_backend_stalls(spool):
    """RESPAN_SHUTDOWN_TIMEOUT_SECONDS is the bound on the flush at exit. A backend that
    accepts the connection and never answers must not hold the exit for the (longer)
    per-request timeout. What did not go out is spooled (or, with the spool off,
    counted and told)."""
    stalled = Reply(201, {"success_count": 3, "error_count": 0, "errors": []}, delay=30)
    extra = {"RESPAN_SPOOL_DIR": "off"} if spool == "off" else {}
    with FaultyServer(handler=lambda request: stalled) as server:
        result = run(
            TRACED
            + """
respan_otel.configure()
for i in range(3):
    step("stalled", i)
""",
            child_env(
                RESPAN_API_KEY="sk-stall",
                RESPAN_BASE_URL=server.url,
                RESPAN_DATASET_ID=DATASET_ID,
                RESPAN_SHUTDOWN_TIMEOUT_SECONDS="0.5",
                RESPAN_REQUEST_TIMEOUT_SECONDS="3",
                **extra,
            ),
        ).check()
        assert len(server.requests) <= 1
    if spool == "off":
        assert re.search(r"3 logs lost", result.stderr), "the loss is counted and told"
        assert re.search(r"failed 3", result.stderr)
    else:
        assert re.search(r"3 logs not delivered yet .*spooled in", result.stderr), result.stderr
    # ~0.6 s of interpreter start-up, the 0.5 s bound, and slack
    assert result.elapsed < 2.5, f"exit took {result.elapsed:.1f} s with a 0.5 s shutdown bound"


SIGTERM_SCRIPT = (
    TRACED
    + HOLD_SPANS
    + """
if INSTALL_HANDLER:
    signal.signal(signal.SIGTERM, lambda *args: sys.exit(0))
respan_otel.configure()
for i in range(20):
    step("sigterm", i)
print("ready", flush=True)
time.sleep(30)
print("never reached", flush=True)
"""
)


def _terminate(code: str, env: dict[str, str]) -> tuple[int, str]:
    process = start(code, env)
    try:
        wait_for_line(process, "ready", timeout=15)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate(timeout=10)
        raise
    assert "never reached" not in out
    return process.returncode, err


def test_sigterm_with_the_default_disposition_kills_without_flushing():
    """What we observe, and document: Python's default SIGTERM disposition ends the
    process at once; no ``atexit`` handler runs, so buffered spans are lost. Apps that
    want them must turn SIGTERM into a normal exit (next test)."""
    with local_respan() as (server, client):
        dataset = client.datasets.create(name="sigterm-default", is_empty=True)
        code = "INSTALL_HANDLER = False\n" + SIGTERM_SCRIPT
        returncode, _ = _terminate(code, env_for(server, dataset.id))
        time.sleep(0.2)  # anything in flight would have landed by now
        logs = logs_of(client, dataset.id)
    assert returncode == -signal.SIGTERM
    assert logs == []


def test_sigterm_turned_into_sys_exit_flushes_everything():
    with local_respan() as (server, client):
        dataset = client.datasets.create(name="sigterm-handled", is_empty=True)
        code = "INSTALL_HANDLER = True\n" + SIGTERM_SCRIPT
        returncode, err = _terminate(code, env_for(server, dataset.id))
        logs = logs_of(client, dataset.id)
    assert returncode == 0, err
    assert sorted(log.input["i"] for log in logs) == list(range(20))


def test_after_fork_parent_and_child_each_deliver_exactly_their_own_spans(tmp_path):
    child_file = tmp_path / "child.json"
    with local_respan() as (server, client):
        dataset = client.datasets.create(name="fork", is_empty=True)
        result = run(
            TRACED
            + HOLD_SPANS
            + f"""
import json


def stamp(body):
    body["metadata"]["sent_by"] = os.getpid()  # the process that really sent the log
    return body


handle = respan_otel.configure(before_send=stamp)
for i in range(5):
    step("parent", i)  # still buffered in the batch processor at the fork
pid = os.fork()
if pid == 0:
    signal.alarm(15)  # a hung child never outlives the test
    try:
        for i in range(4):
            step("child", i)
        flushed = respan_otel.flush(10)
        with open({str(child_file)!r}, "w") as out:
            json.dump({{"pid": os.getpid(), "flushed": flushed, "stats": handle.stats}}, out)
    finally:
        os._exit(0)
_, status = os.waitpid(pid, 0)
for i in range(5, 8):
    step("parent", i)
flushed = respan_otel.flush(10)
report(pid=os.getpid(), status=status, flushed=flushed, stats=handle.stats)
""",
            env_for(server, dataset.id),
        ).check()
        logs = logs_of(client, dataset.id)
    parent = result.data
    child = json.loads(child_file.read_text())
    assert parent["status"] == 0
    assert parent["flushed"] is True
    assert child["flushed"] is True
    by_who: dict[str, list[tuple[int, int]]] = {"parent": [], "child": []}
    for log in logs:
        by_who[log.input["who"]].append((log.input["i"], log.metadata["sent_by"]))
    assert sorted(by_who["parent"]) == [(i, parent["pid"]) for i in range(8)], (
        "every parent span once, all sent by the parent"
    )
    assert sorted(by_who["child"]) == [(i, child["pid"]) for i in range(4)], (
        "every child span once, all sent by the child"
    )
    assert child["stats"]["exported"] == 4, "the child never sent its parent's buffered spans"
    assert parent["stats"]["exported"] == 8
    assert parent["stats"]["failed"] == child["stats"]["failed"] == 0


def test_a_fork_while_the_parent_is_exporting_leaves_the_child_free_to_deliver(tmp_path):
    """The parent's worker thread is inside a (slow) bulk request, holding the exporter's
    lock and a pooled connection, when the process forks. The child must neither wait
    for that lock nor reuse that connection: its flush is prompt and sends only its own."""
    child_file = tmp_path / "child.json"
    answered: list[int] = []

    def handler(request):
        count = len(request.json()["logs"])
        answered.append(count)
        delay = 1.0 if len(answered) == 1 else 0.0  # the parent's first batch is slow
        return Reply(201, {"success_count": count, "error_count": 0, "errors": []}, delay=delay)

    with FaultyServer(handler=handler) as server:
        result = run(
            TRACED
            + f"""
import json


def stamp(body):
    body["metadata"]["sent_by"] = os.getpid()
    return body


handle = respan_otel.configure(before_send=stamp)
for i in range(500):
    step("parent", i)  # a full batch: the worker thread exports it at once
deadline = time.monotonic() + 10
while handle.stats["requests"] < 1 and time.monotonic() < deadline:
    time.sleep(0.005)
time.sleep(0.1)  # the request is now in flight (the server holds its reply 1 s)
pid = os.fork()
if pid == 0:
    signal.alarm(15)  # a hung child never outlives the test
    try:
        started = time.monotonic()
        step("child", 0)
        step("child", 1)
        flushed = respan_otel.flush(10)
        with open({str(child_file)!r}, "w") as out:
            json.dump(
                {{
                    "pid": os.getpid(),
                    "flushed": flushed,
                    "seconds": time.monotonic() - started,
                    "stats": handle.stats,
                }},
                out,
            )
    finally:
        os._exit(0)
_, status = os.waitpid(pid, 0)
report(pid=os.getpid(), status=status, flushed=respan_otel.flush(10), stats=handle.stats)
""",
            child_env(
                RESPAN_API_KEY="sk-fork",
                RESPAN_BASE_URL=server.url,
                RESPAN_DATASET_ID=DATASET_ID,
            ),
        ).check()
        requests = server.requests
    parent = result.data
    child = json.loads(child_file.read_text())
    assert parent["status"] == 0
    assert child["flushed"] is True
    assert child["seconds"] < 0.8, "the child did not wait for its parent's request"
    sent = [
        (log["input"]["who"], log["input"]["i"], log["metadata"]["sent_by"])
        for request in requests
        for log in request.json()["logs"]
    ]
    assert sorted(s for s in sent if s[0] == "child") == [
        ("child", 0, child["pid"]),
        ("child", 1, child["pid"]),
    ]
    assert sorted(s for s in sent if s[0] == "parent") == [
        ("parent", i, parent["pid"]) for i in range(500)
    ]
    assert child["stats"]["exported"] == 2
    assert parent["stats"]["exported"] == 500


def test_a_fork_while_the_parent_resolves_a_dataset_name_leaves_the_child_free(tmp_path):
    """As above, but the parent's worker is resolving a dataset *name* (a slow list
    request) at the fork. The child must resolve it again on its own, not wait forever
    for a lock that the parent's thread held when the process was copied."""
    child_file = tmp_path / "child.json"
    lists: list[float] = []

    def handler(request):
        if request.route == "/api/datasets/list/":
            lists.append(request.received_at)
            page = {"count": 0, "next": None, "previous": None, "results": []}
            return Reply(200, page, delay=1.0 if len(lists) == 1 else 0.0)
        if request.route == "/api/datasets/":
            return Reply(201, {"id": DATASET_ID, "name": request.json()["name"]})
        count = len(request.json()["logs"])
        return Reply(201, {"success_count": count, "error_count": 0, "errors": []})

    with FaultyServer(handler=handler) as server:
        result = run(
            TRACED
            + f"""
import json


@trace(dataset="named-at-fork")
def named(who, i):
    return i


handle = respan_otel.configure()
for i in range(500):
    named("parent", i)  # a full batch: the worker resolves the name, then sends it
time.sleep(0.3)  # the worker is now inside the (1 s) dataset lookup
pid = os.fork()
if pid == 0:
    signal.alarm(3)  # a hung child is killed: the test then reports it
    try:
        started = time.monotonic()
        named("child", 0)
        flushed = respan_otel.flush(2)
        with open({str(child_file)!r}, "w") as out:
            json.dump({{"flushed": flushed, "seconds": time.monotonic() - started}}, out)
    finally:
        os._exit(0)
_, status = os.waitpid(pid, 0)
report(status=status, flushed=respan_otel.flush(10), stats=handle.stats)
""",
            child_env(RESPAN_API_KEY="sk-fork", RESPAN_BASE_URL=server.url),
        ).check()
        bulk = [r for r in server.requests if r.route.endswith("/logs/bulk/")]
    parent = result.data
    assert parent["stats"]["exported"] == 500
    assert child_file.exists(), (
        f"the forked child hung in flush() and was killed (wait status {parent['status']}): "
        "client.Datasets._get_or_create_lock, held by the parent's worker at the fork, "
        "is never released in the child"
    )
    child = json.loads(child_file.read_text())
    assert child["flushed"] is True
    assert child["seconds"] < 1.5
    sent = sorted(
        (log["input"]["who"], log["input"]["i"]) for r in bulk for log in r.json()["logs"]
    )
    assert sent == sorted([("child", 0)] + [("parent", i) for i in range(500)])


MP_MODULE = """
import respan_otel
from respan_otel import trace

respan_otel.configure()  # at import: spawn and forkserver children import this module too


@trace
def work(i):
    return {"double": i * 2}


def task(i):  # a plain function: a traced one is a proxy, which pickle refuses
    return work(i)


def many(start):
    for i in range(start, start + 20):
        work(i)
"""

MP_SCRIPT = """
import multiprocessing as mp
import sys

sys.path.insert(0, {folder!r})
import mpwork

method = {method!r}
if method == "pool":
    pool = mp.get_context("fork").Pool(2)
    pool.map(mpwork.task, range(60))
    pool.close()
    pool.join()  # the workers end as multiprocessing ends them: os._exit, no atexit
else:
    context = mp.get_context(method)
    children = [context.Process(target=mpwork.many, args=(s,)) for s in (0, 20, 40)]
    for child in children:
        child.start()
    for child in children:
        child.join()
report(codes=[c.exitcode for c in children] if method != "pool" else [])
"""


@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn", "pool"])
def test_multiprocessing_children_deliver_their_spans(method, tmp_path):
    """Observed: ``multiprocessing`` children (fork, forkserver, Pool) lost all their
    spans with no count (0 of 60): they end with ``os._exit``, which runs no atexit
    handler. Each child now delivers its own spans before it ends."""
    (tmp_path / "mpwork.py").write_text(MP_MODULE)
    with local_respan() as (server, client):
        dataset = client.datasets.create(name=f"mp-{method}", is_empty=True)
        result = run(
            MP_SCRIPT.format(folder=str(tmp_path), method=method),
            env_for(server, dataset.id),
            timeout=60,
        ).check()
        logs = logs_of(client, dataset.id)
    assert result.data["codes"] in ([], [0, 0, 0])
    assert sorted(log.input["i"] for log in logs) == list(range(60)), result.stderr[-2000:]


POOL_MODULE = """
import os
import time

import respan_otel
import respan_otel._export._processor
from respan_otel import trace

respan_otel._export._processor.SCHEDULE_DELAY_SECONDS = 60.0  # nothing leaves before the end
respan_otel.configure()


@trace
def work(i):
    return {"double": i * 2}


@trace
def stuck(i, folder):
    open(os.path.join(folder, f"started-{i}"), "w").close()
    time.sleep(60)  # still running when the pool is terminated: its span never ends


def task(i):
    return work(i)


def stuck_task(args):
    return stuck(*args)
"""

POOL_TERMINATE_SCRIPT = """
import multiprocessing as mp
import os
import sys
import time

sys.path.insert(0, {folder!r})
import poolwork

with mp.get_context("fork").Pool(2) as pool:
    pool.map(poolwork.task, range(40))
    pool.map_async(poolwork.stuck_task, [(100, {folder!r}), (101, {folder!r})])
    while sum(name.startswith("started-") for name in os.listdir({folder!r})) < 2:
        time.sleep(0.05)
    workers = list(pool._pool)
# leaving the block calls Pool.terminate(): SIGTERM to each worker, then joins them
report(codes=[worker.exitcode for worker in workers])
"""


def test_pool_terminate_delivers_what_its_workers_finished_not_the_calls_it_cut_short(tmp_path):
    """``Pool.terminate()`` (also what leaving a ``with Pool()`` block does) ends each
    worker with SIGTERM, whatever it is doing. Each worker first delivers the spans it
    finished (bounded by ``RESPAN_SHUTDOWN_TIMEOUT_SECONDS``; terminate() waits for it),
    then dies of the signal. A call still running is cut short: its span never ends, so
    it is not delivered (nor counted)."""
    (tmp_path / "poolwork.py").write_text(POOL_MODULE)
    with local_respan() as (server, client):
        dataset = client.datasets.create(name="pool-terminate", is_empty=True)
        result = run(
            POOL_TERMINATE_SCRIPT.format(folder=str(tmp_path)),
            env_for(server, dataset.id),
            timeout=60,
        ).check()
        logs = logs_of(client, dataset.id)
    assert result.data["codes"] == [-signal.SIGTERM] * 2, "the workers died of the SIGTERM"
    assert sorted(log.input["i"] for log in logs) == list(range(40)), result.stderr[-2000:]
