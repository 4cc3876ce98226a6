"""docs/testing.md's examples run as written, and the fixture sends nothing anywhere."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.faulty_server import FaultyServer

pytest_plugins = ["pytester"]

DOC = Path(__file__).resolve().parent.parent / "docs" / "testing.md"


def doc_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def test_the_documented_assertions_pass_in_another_project(pytester: pytest.Pytester):
    first, whole_trace = doc_blocks()[:2]
    agent = """
from respan_otel import span, trace

@trace(kind="retriever")
def retrieve(question):
    return ["doc"]

@trace(kind="workflow")
def support_agent(question):
    with span("plan", kind="task"):
        pass
    return retrieve(question)
"""
    pytester.makepyfile(test_user_app=first + agent + whole_trace)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_the_fixture_sends_nothing_even_with_a_key_in_the_environment(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
):
    with FaultyServer() as server:
        monkeypatch.setenv("RESPAN_API_KEY", "sk-must-not-be-used")
        monkeypatch.setenv("RESPAN_BASE_URL", server.url)
        monkeypatch.setenv("RESPAN_DATASET_ID", "00000000-0000-4000-8000-000000000000")
        pytester.makepyfile(test_user_app=doc_blocks()[0])
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
        result.assert_outcomes(passed=1)
        assert server.requests == []
