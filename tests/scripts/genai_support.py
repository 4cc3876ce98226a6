"""Run the ``genai_*`` child scripts for the instrumentation tests, all at once, bounded.

Instrumentors patch libraries globally and read their environment once, so each
configuration runs in a fresh interpreter. The children start together (they spend most
of their time importing) and each is waited for with a timeout; one still running then
is killed. A child gets the parent's environment without ``OTEL_*``/``RESPAN_*`` settings
or proxies (its traffic stays on 127.0.0.1), plus the overrides it is given. It reports
with one ``RESULT {json}`` line on stdout, which :attr:`ChildRun.data` decodes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

RESULT_MARK: Final = "RESULT "
_PROXY_VARIABLES: Final = frozenset({"http_proxy", "https_proxy", "all_proxy", "no_proxy"})


def child_env(**overrides: str) -> dict[str, str]:
    """The parent's environment, cleaned of OTel/Respan settings and proxies, plus overrides."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("OTEL_", "RESPAN_")) and name.lower() not in _PROXY_VARIABLES
    }
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(overrides)
    return env


@dataclass(frozen=True)
class ChildRun:
    """A finished child."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def data(self) -> dict[str, Any]:
        """What the script reported (its last ``RESULT`` line)."""
        lines = [line for line in self.stdout.splitlines() if line.startswith(RESULT_MARK)]
        assert lines, f"the script reported nothing\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"
        return json.loads(lines[-1][len(RESULT_MARK) :])  # type: ignore[no-any-return]

    def check(self) -> ChildRun:
        """Assert a clean exit, showing stderr otherwise."""
        assert self.returncode == 0, f"exit {self.returncode}\nstderr:\n{self.stderr}"
        return self


def run_scripts(
    jobs: Mapping[str, tuple[Path, Mapping[str, Any], Mapping[str, str]]], *, timeout: float
) -> dict[str, ChildRun]:
    """Run ``{key: (script, config, env overrides)}`` concurrently; results by key.

    Each script gets its config as one JSON argument. Raises ``subprocess.TimeoutExpired``
    for a child that outlives ``timeout`` (counted from when it is waited for), after
    killing every child still running.
    """
    children = {
        key: subprocess.Popen(
            [sys.executable, str(script), json.dumps(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env(**env),
        )
        for key, (script, config, env) in jobs.items()
    }
    finished: dict[str, ChildRun] = {}
    try:
        for key, child in children.items():
            out, err = child.communicate(timeout=timeout)
            finished[key] = ChildRun(child.returncode, out, err)
    finally:
        for child in children.values():
            if child.poll() is None:
                child.kill()
                child.communicate()
    return finished
