"""configure(gateway=...) / RESPAN_GATEWAY_URL: our own setup sends OTLP to the gateway."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.gateway.conftest import TOKEN, wait_for

APP = """
import sys
import respan_otel
from respan_otel import propagate, trace

handle = respan_otel.configure({arguments})

@trace(kind="workflow")
def answer(question):
    return question.upper()

with propagate(session_id="through-gateway"):
    answer("hello")
print("flushed", handle.flush(10), "stats", handle.stats)
handle.shutdown()
"""


def run_app(arguments: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("RESPAN_", "OTEL_"))}
    return subprocess.run(
        [sys.executable, "-c", APP.format(arguments=arguments)],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_configure_sends_to_the_gateway_with_no_respan_key(how, make_gateway, client, dataset):
    gateway = make_gateway()
    if how == "argument":
        done = run_app(f"gateway={gateway.url!r}, gateway_token={TOKEN!r}")
    else:
        done = run_app("", RESPAN_GATEWAY_URL=gateway.url, RESPAN_GATEWAY_TOKEN=TOKEN)
    assert done.returncode == 0, done.stderr
    assert "flushed True" in done.stdout
    assert "no API key" not in done.stderr
    wait_for(lambda: gateway.snapshot()["delivered_rows"] == 1)
    (log,) = list(client.datasets.logs.iter(dataset.id))
    assert log.input == {"question": "hello"}
    assert log.metadata["session_id"] == "through-gateway"


def test_a_gateway_without_a_token_sends_nothing_and_says_how_to_fix_it(make_gateway):
    gateway = make_gateway()
    done = run_app(f"gateway={gateway.url!r}")
    assert done.returncode == 0, done.stderr
    assert "RESPAN_GATEWAY_TOKEN" in done.stderr
    assert gateway.snapshot()["requests"]["unauthorized"] == 0
    assert gateway.snapshot()["received_spans"] == 0
