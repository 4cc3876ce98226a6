"""The work one serialization may do is bounded (issue 12), and objects that are not data
are summarized, never walked into (issue 10, item 9)."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import openai
import pytest
import requests
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from respan_otel import trace
from respan_otel._redact import Redactor
from respan_otel._serialize import BUDGET_MARKER, DEFAULT_MAX_BYTES, dumps, to_jsonable


class Watched:
    """Counts every attribute read that goes through ``__getattribute__``."""

    reads = 0

    def __init__(self, delay: float = 0.0) -> None:
        self.question = "why?"
        self.delay = delay

    def __getattribute__(self, name: str) -> Any:
        type(self).reads += 1
        delay = object.__getattribute__(self, "delay")
        if delay:
            time.sleep(delay)
        return object.__getattribute__(self, name)


def test_an_object_is_read_a_few_times_not_once_per_type_check(
    exporter: InMemorySpanExporter,
) -> None:
    # each isinstance() check read __class__ through __getattribute__: 38 reads per field
    @trace
    def ask(item: Watched) -> str:
        return "ok"

    item = Watched()
    Watched.reads = 0
    ask(item)
    assert Watched.reads <= 2
    (recorded,) = exporter.get_finished_spans()
    assert json.loads(recorded.attributes["respan.input"]) == {
        "item": {"question": "why?", "delay": 0.0}
    }


def test_reading_stops_when_the_time_budget_is_spent(caplog: pytest.LogCaptureFixture) -> None:
    items = [Watched(delay=0.02) for _ in range(100)]  # 2 s if every object were read
    Watched.reads = 0
    with caplog.at_level(logging.WARNING, logger="respan_otel"):
        out = json.loads(dumps(items, max_seconds=0.1))
    assert Watched.reads < 50
    assert BUDGET_MARKER in out
    assert any("process_input" in r.getMessage() for r in caplog.records)


def test_reading_stops_when_the_read_budget_is_spent() -> None:
    items = [Watched() for _ in range(100)]
    Watched.reads = 0
    out = json.loads(dumps(items, max_reads=10))
    assert Watched.reads <= 20
    assert out.count(BUDGET_MARKER) >= 80


class CountingRedactor(Redactor):
    __slots__ = ("asked",)

    def __init__(self) -> None:
        super().__init__(("api_key",))
        self.asked = 0

    def matches(self, key: str) -> bool:
        self.asked += 1
        return super().matches(key)


def test_a_huge_dict_is_visited_only_as_far_as_the_cap_can_hold() -> None:
    # all 32k keys were visited (and redaction-checked) for a 128 KiB field
    value = {f"key{i}": f"value {i}" for i in range(32_768)}
    redactor = CountingRedactor()
    out = dumps(value, redactor=redactor)
    assert len(out.encode()) <= DEFAULT_MAX_BYTES
    assert redactor.asked <= DEFAULT_MAX_BYTES // 8
    assert json.loads(out)["_truncated"] >= 32_768 - DEFAULT_MAX_BYTES // 8


def test_objects_that_are_not_data_are_summarized() -> None:
    connection = sqlite3.connect(":memory:")
    session = requests.Session()
    with httpx.Client() as http, ThreadPoolExecutor(max_workers=1) as pool:
        client = openai.OpenAI(api_key="sk-test-not-a-real-key", base_url="http://127.0.0.1:9")
        value = {
            "client": client,
            "http": http,
            "session": session,
            "db": connection,
            "cursor": connection.cursor(),
            "logger": logging.getLogger("app"),
            "lock": threading.Lock(),
            "pool": pool,
            "module": json,
            "function": dumps,
            "class": Watched,
        }
        out = to_jsonable(value)
        text = dumps(value)
    session.close()
    connection.close()
    assert out["client"] == "<openai.OpenAI>"
    assert out["http"] == "<httpx.Client>"
    assert out["session"] == "<requests.sessions.Session>"
    assert out["db"] == "<sqlite3.Connection>"
    assert out["cursor"] == "<sqlite3.Cursor>"
    assert out["logger"].startswith("<logging.Logger> <Logger app")
    assert out["lock"].startswith("<_thread.lock> <unlocked _thread.lock object")
    assert out["pool"] == "<concurrent.futures.thread.ThreadPoolExecutor>"
    assert out["module"] == "<module json>"
    assert out["function"] == "respan_otel._serialize.dumps"
    assert out["class"] == "tests.test_serialize_bounds.Watched"
    assert "sk-test" not in text
    assert len(text) < 1_000


def test_data_objects_of_the_same_libraries_are_still_walked() -> None:
    response = openai.types.CompletionUsage(prompt_tokens=3, completion_tokens=2, total_tokens=5)
    assert to_jsonable(response)["total_tokens"] == 5
