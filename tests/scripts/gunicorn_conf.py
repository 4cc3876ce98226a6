"""The gunicorn hook from the recipe: flush a worker's spans before it exits."""

from __future__ import annotations

from typing import Any

import respan_otel


def worker_exit(server: Any, worker: Any) -> None:
    respan_otel.shutdown()
