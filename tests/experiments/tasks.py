"""Tasks and scorers the CLI tests load as MODULE:NAME (from a subprocess)."""

from __future__ import annotations

import os
import time
from pathlib import Path


def answer(question: str) -> str:
    """A deterministic 'support agent': the prompt under test."""
    return {"refund": "14 days", "shipping": "2 business days"}.get(question, "not sure")


def answer_v2(question: str) -> str:
    """The changed prompt: one answer better, one worse."""
    return {"refund": "14 days", "warranty": "2 years"}.get(question, "not sure")


def slow_after_two(question: str) -> str:
    """Finishes two rows, then signals the test (a marker file) and hangs."""
    marker = Path(os.environ["EXPERIMENT_MARKER"])
    if question in ("refund", "shipping"):
        return answer(question)
    marker.write_text("two rows done")
    time.sleep(60)
    return "too late"


def polite(output: str) -> float:
    return 1.0 if "sorry" not in output else 0.0
