"""The deployment recipes of docs/recipes.md, each run for real in a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from respan_otel import RespanClient
from respan_otel.local import LocalRespan
from tests.ports import free_port

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = Path(__file__).parent / "scripts"


@pytest.fixture
def backend() -> Iterator[tuple[LocalRespan, RespanClient, dict[str, str]]]:
    with (
        LocalRespan() as server,
        RespanClient(api_key=server.api_key, base_url=server.base_url) as client,
    ):
        dataset = client.datasets.create(name="recipes", is_empty=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "RESPAN_"))}
        env.update(
            RESPAN_API_KEY=server.api_key,
            RESPAN_BASE_URL=server.base_url,
            RESPAN_DATASET_ID=dataset.id,
            RESPAN_SPOOL_DIR=tempfile.mkdtemp(prefix="respan-otel-recipe-spool-"),
            PYTHONPATH=str(ROOT),
        )
        yield server, client, env | {"DATASET": dataset.id}


def run_script(code: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_lambda_handlers_flush_within_each_invocation(backend):
    _, client, env = backend
    out = run_script(
        """
        import asyncio
        import respan_otel
        from respan_otel import trace

        respan = respan_otel.configure()

        @respan_otel.flush_after
        @trace(kind="workflow")
        def handler(event, context):
            return {"echo": event}

        @respan_otel.flush_after
        @trace(kind="workflow")
        async def async_handler(event, context):
            await asyncio.sleep(0)
            return {"echo": event}

        for i in range(3):
            handler({"i": i}, None)
            print(respan.stats["exported"])
        asyncio.run(async_handler({"i": 3}, None))
        print(respan.stats["exported"])
        """,
        env,
    )
    assert out.split() == ["1", "2", "3", "4"], "each invocation is delivered before it returns"
    assert len(list(client.datasets.logs.iter(env["DATASET"]))) == 4


def test_gunicorn_preload_workers_deliver_every_request(backend):
    _, client, env = backend
    port = free_port()
    gunicorn = Path(sys.executable).parent / "gunicorn"
    master = subprocess.Popen(
        [
            str(gunicorn),
            "--preload",
            "--workers",
            "2",
            "--bind",
            f"127.0.0.1:{port}",
            "--config",
            str(SCRIPTS / "gunicorn_conf.py"),
            "tests.scripts.recipe_wsgi:app",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"http://127.0.0.1:{port}/ping", timeout=1)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "gunicorn did not start"
                assert master.poll() is None, master.stderr.read() if master.stderr else ""
                time.sleep(0.1)
        with requests.Session() as session:
            for i in range(20):
                assert session.get(f"http://127.0.0.1:{port}/r{i}", timeout=5).text == f"/R{i}"
    finally:
        master.send_signal(signal.SIGTERM)
        master.communicate(timeout=30)
    paths = sorted(log.input["path"] for log in client.datasets.logs.iter(env["DATASET"]))
    assert paths == sorted(["/ping", *(f"/r{i}" for i in range(20))]), (
        "every request, from either worker, exactly once"
    )


def test_worker_pools_that_hard_exit_need_the_shutdown_hook(backend):
    """Celery's prefork pool (and max_tasks_per_child) ends workers with os._exit, which
    skips atexit. The recipe's worker_process_shutdown hook flushes first."""
    _, client, env = backend
    out = run_script(
        """
        import multiprocessing, os
        import respan_otel
        from respan_otel import trace

        respan_otel.configure()

        @trace(kind="task")
        def task(tag, i):
            return i

        def worker(tag, with_hook):
            for i in range(5):
                task(tag, i)
            if with_hook:
                respan_otel.shutdown()  # what the worker_process_shutdown hook does
            os._exit(0)

        ctx = multiprocessing.get_context("fork")
        for tag, hook in (("with-hook", True), ("without-hook", False)):
            child = ctx.Process(target=worker, args=(tag, hook))
            child.start()
            child.join(30)
            print(child.exitcode)
        """,
        env,
    )
    assert out.split() == ["0", "0"]
    tags = [log.input["tag"] for log in client.datasets.logs.iter(env["DATASET"])]
    assert tags.count("with-hook") == 5
    assert tags.count("without-hook") == 0, "a hard exit loses what was buffered: hence the hook"
