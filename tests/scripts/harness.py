"""Run a snippet of Python in a fresh interpreter, pointed at a server the test started.

Anything that sets up a tracer provider (``configure()``) must run in its own process:
the test session's provider is global and cannot be replaced. The child gets a clean
environment (no ``OTEL_*``/``RESPAN_*`` from the parent, no proxies, so its traffic goes
to 127.0.0.1 only), the :data:`PRELUDE` (logging at WARNING to stderr, ``report()``), and
a timeout. A script reports its findings with ``report(**values)``, one JSON line that
:attr:`Run.data` decodes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from respan_otel import RespanClient
from respan_otel.client._types import DatasetLog
from respan_otel.local import LocalRespan

DATASET_ID = "6d0b2c7e-3a6a-4c09-9c7e-1f2d9e2d3f0a"
"""A well-formed dataset id, for servers that accept any."""

_MARK = "RESULT "
_PROXY_VARIABLES = frozenset({"http_proxy", "https_proxy", "all_proxy", "no_proxy"})

PRELUDE = textwrap.dedent(
    f"""
    import json as _json
    import logging
    import sys

    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )


    def report(**values):
        print({_MARK!r} + _json.dumps(values, default=repr), flush=True)

    """
)


def child_env(**overrides: str | None) -> dict[str, str]:
    """The parent's environment without OTel/Respan settings or proxies, plus ``overrides``
    (``None`` removes a variable)."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("OTEL_", "RESPAN_")) and name.lower() not in _PROXY_VARIABLES
    }
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    # the spool is on by default: each child gets its own, never the real per-user cache
    env["RESPAN_SPOOL_DIR"] = tempfile.mkdtemp(prefix="respan-otel-child-spool-")
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def script(code: str) -> str:
    """The full program: the prelude, then ``code`` dedented."""
    return PRELUDE + textwrap.dedent(code)


@dataclass
class Run:
    """A finished child process."""

    returncode: int
    stdout: str
    stderr: str
    elapsed: float

    @property
    def data(self) -> dict[str, Any]:
        """The last ``report(...)`` of the script."""
        lines = [line for line in self.stdout.splitlines() if line.startswith(_MARK)]
        assert lines, f"the script reported nothing\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"
        return json.loads(lines[-1][len(_MARK) :])  # type: ignore[no-any-return]

    def check(self) -> Run:
        """Assert a clean exit, showing stderr otherwise."""
        assert self.returncode == 0, f"exit {self.returncode}\nstderr:\n{self.stderr}"
        return self

    def warnings(self) -> list[str]:
        """The lines the child logged at WARNING or above."""
        return [
            line
            for line in self.stderr.splitlines()
            if line.startswith(("WARNING ", "ERROR ", "CRITICAL "))
        ]


def run(code: str, env: dict[str, str], *, timeout: float = 30.0) -> Run:
    """Run ``code`` (after the prelude) in a new interpreter and wait for it."""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", script(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    return Run(result.returncode, result.stdout, result.stderr, time.monotonic() - started)


def start(code: str, env: dict[str, str]) -> subprocess.Popen[str]:
    """Start ``code`` (after the prelude) without waiting; the caller bounds the wait."""
    return subprocess.Popen(
        [sys.executable, "-c", script(code)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def wait_for_line(process: subprocess.Popen[str], expected: str, *, timeout: float) -> None:
    """Read the child's stdout until a line equal to ``expected`` (bounded in time)."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    import selectors

    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
                continue
            line = process.stdout.readline()
            if not line:
                break
            if line.strip() == expected:
                return
    process.kill()
    _, err = process.communicate(timeout=10)
    raise AssertionError(f"the child never printed {expected!r}; stderr:\n{err}")


@contextmanager
def local_respan(**options: Any) -> Iterator[tuple[LocalRespan, RespanClient]]:
    """A running local server and a client for it."""
    with (
        LocalRespan(**options) as server,
        RespanClient(api_key=server.api_key, base_url=server.base_url) as client,
    ):
        yield server, client


def env_for(
    server: LocalRespan, dataset_id: str | None = None, **extra: str | None
) -> dict[str, str]:
    """A child environment that exports into ``server`` (and ``dataset_id``)."""
    return child_env(
        RESPAN_API_KEY=server.api_key,
        RESPAN_BASE_URL=server.base_url,
        RESPAN_DATASET_ID=dataset_id,
        **extra,
    )


def logs_of(client: RespanClient, dataset_id: str) -> list[DatasetLog]:
    """Every log stored in the dataset."""
    return list(client.datasets.logs.iter(dataset_id))
