"""A gateway in its own process (``respan-otel gateway``), for crash tests and benchmarks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.ports import free_port


class GatewayProcess:
    """``python -m respan_otel.cli gateway`` on a fixed port, started and killed at will."""

    def __init__(self, directory: Path, env: dict[str, str], port: int | None = None) -> None:
        self.directory = directory
        self.port = port or free_port()
        self.env = {**os.environ, **env}
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = directory.parent / f"gateway-{self.port}.log"

    def start(self, timeout: float = 30.0) -> GatewayProcess:
        command = [sys.executable, "-m", "respan_otel.cli", "gateway"]
        command += ["--port", str(self.port), "--dir", str(self.directory)]
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(command, env=self.env, stdout=sink, stderr=sink)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the gateway exited: {self.log.read_text()[-2000:]}")
            try:
                if requests.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the gateway did not become ready")
            time.sleep(0.05)

    def stats(self) -> dict:
        return requests.get(f"{self.url}/stats", timeout=5).json()

    def kill(self) -> None:
        """``kill -9``: no shutdown code runs."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
