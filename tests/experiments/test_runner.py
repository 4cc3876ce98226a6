"""run_experiment over rows in memory: tasks, scorers, errors, concurrency, timeouts,
and the spend read from each row's spans."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import respan_otel
from respan_otel import propagate, span, trace, update_current_span
from respan_otel.experiments import (
    contains,
    exact_match,
    json_equal,
    run_experiment,
    run_experiment_async,
)

ROWS = [
    {"input": "refund", "expected_output": "REFUND", "metadata": {"topic": "billing"}},
    {"input": "boom", "expected_output": "BOOM"},
    {"input": "ship", "expected_output": "nope"},
]


@trace(kind="llm", metadata={"model": "stub-1"})
def fake_llm(prompt: str) -> str:
    update_current_span(metrics={"prompt_tokens": 7, "completion_tokens": 3, "cost": 0.25})
    return prompt.upper()


def agent(question: str) -> str:
    if question == "boom":
        raise ValueError("the model refused")
    return fake_llm(question)


def test_public_name() -> None:
    assert respan_otel.run_experiment is run_experiment
    assert "run_experiment" in respan_otel.__all__


def test_task_that_raises_records_the_error_and_the_run_goes_on() -> None:
    result = run_experiment(ROWS, agent, scorers=[exact_match])
    assert [row.index for row in result.rows] == [0, 1, 2]
    failed = result.rows[1]
    assert failed.error == "ValueError: the model refused"
    assert failed.output is None
    assert failed.scores == {}, "no output, so nothing to score"
    assert result.rows[0].scores == {"exact_match": True}
    assert result.rows[2].scores == {"exact_match": False}
    assert [row.index for row in result.errors] == [1]
    summary = result.summary["exact_match"]
    assert (summary.count, summary.errors, summary.mean, summary.pass_rate) == (2, 1, 0.5, 0.5)


def test_scorer_that_raises_records_an_error_for_that_row_only() -> None:
    def judge(output: str) -> float:
        if output == "SHIP":
            raise RuntimeError("judge unavailable")
        return 0.75

    result = run_experiment(ROWS, agent, scorers=[judge, exact_match])
    ship = result.rows[2]
    assert ship.score_errors == {"judge": "RuntimeError: judge unavailable"}
    assert ship.scores == {"exact_match": False}, "the other scorers still ran"
    assert result.rows[0].scores == {"judge": 0.75, "exact_match": True}
    summary = result.summary["judge"]
    assert (summary.count, summary.errors, summary.mean) == (1, 2, 0.75)
    assert summary.pass_rate is None, "pass rate only for pass/fail scores"


def test_scorer_returning_something_else_is_an_error_naming_the_shapes() -> None:
    result = run_experiment(["a"], str.upper, scorers=[lambda output: "good"])
    (message,) = result.rows[0].score_errors.values()
    assert "return a finite number, a bool, a dict of them, or None" in message


def test_dict_scores_and_none() -> None:
    def many(output: str, expected_output: str) -> dict[str, Any]:
        return {"length": len(output), "upper": output.isupper(), "skipped": None}

    result = run_experiment(ROWS[:1], str.upper, scorers=[many, lambda: None])
    assert result.rows[0].scores == {"length": 6.0, "upper": True}
    assert result.rows[0].score_errors == {}


def test_async_task_and_async_scorer() -> None:
    seen: list[str] = []

    async def answer(input: str, row: dict[str, Any]) -> str:
        await asyncio.sleep(0.01)
        seen.append(row["metadata"].get("topic", "-"))
        with span("lookup", kind="retriever", input=input) as step:
            step.set_output(["doc"])
        return input.upper()

    async def polite(output: str) -> bool:
        await asyncio.sleep(0)
        return output.endswith("D")

    result = run_experiment(ROWS, answer, scorers=[polite, exact_match])
    assert sorted(seen) == ["-", "-", "billing"]
    assert [row.output for row in result.rows] == ["REFUND", "BOOM", "SHIP"]
    assert result.rows[0].scores == {"polite": True, "exact_match": True}
    assert all(row.trace_id for row in result.rows)


async def test_run_experiment_async_inside_a_running_loop() -> None:
    async def answer(question: str) -> str:
        await asyncio.sleep(0)
        return question[::-1]

    result = await run_experiment_async(["abc", "xy"], answer, scorers=[contains])
    assert [row.output for row in result.rows] == ["cba", "yx"]
    assert result.rows[0].scores == {}, "no expected output: contains gives no score"


def test_concurrency_is_bounded_and_used() -> None:
    lock = threading.Lock()
    running = 0
    peak = 0
    reached = threading.Event()

    def task(n: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
            if running == 3:
                reached.set()
        reached.wait(5)  # rows wait for each other: passes only if 3 really run at once
        with lock:
            running -= 1
        return n

    result = run_experiment(list(range(12)), task, concurrency=3)
    assert [row.output for row in result.rows] == list(range(12))
    assert peak == 3


def test_async_concurrency_is_bounded() -> None:
    running = 0
    peak = 0

    async def task(n: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1
        return n

    run_experiment(list(range(20)), task, concurrency=4)
    assert peak == 4


def test_per_row_timeout_sync_and_async() -> None:
    release = threading.Event()

    def slow(n: int) -> int:
        if n == 1:
            release.wait(10)
        return n

    async def aslow(n: int) -> int:
        if n == 1:
            await asyncio.sleep(10)
        return n

    try:
        for task in (slow, aslow):
            started = time.monotonic()
            result = run_experiment([0, 1, 2], task, timeout=0.2)
            assert time.monotonic() - started < 5
            assert [row.output for row in result.rows] == [0, None, 2]
            assert result.rows[1].error == "TimeoutError: took longer than the 0.2s timeout"
    finally:
        release.set()


def test_spend_and_trace_id_come_from_the_rows_spans(exporter: InMemorySpanExporter) -> None:
    def two_calls(question: str) -> str:
        return fake_llm(question) + fake_llm(question)

    result = run_experiment(["q1", "q2"], two_calls, concurrency=2)
    for row in result.rows:
        assert (row.prompt_tokens, row.completion_tokens, row.total_tokens) == (14, 6, 20)
        assert row.cost == 0.5
        assert row.llm_calls == 2
        spans = [
            s for s in exporter.get_finished_spans() if f"{s.context.trace_id:032x}" == row.trace_id
        ]
        assert sorted(s.name for s in spans) == ["fake_llm", "fake_llm", "two_calls"]
        (root,) = [s for s in spans if s.parent is None]
        assert row.latency == (root.end_time - root.start_time) / 1e9
    assert result.rows[0].trace_id != result.rows[1].trace_id
    assert result.spend() == {
        "prompt_tokens": 28,
        "completion_tokens": 12,
        "total_tokens": 40,
        "cost": 1.0,
        "llm_calls": 4,
    }


def test_foreign_genai_spans_count_too(provider: Any) -> None:
    tracer = provider.get_tracer("tests.genai")

    def task(question: str) -> str:
        with tracer.start_as_current_span("chat stub") as s:
            s.set_attribute("gen_ai.operation.name", "chat")
            s.set_attribute("gen_ai.usage.input_tokens", 11)
            s.set_attribute("gen_ai.usage.output_tokens", 4)
        return "ok"

    (row,) = run_experiment(["q"], task).rows
    assert (row.prompt_tokens, row.completion_tokens, row.total_tokens) == (11, 4, 15)
    assert row.cost is None, "no model named: no cost invented"


def test_a_model_call_seen_by_two_spans_counts_once(provider: Any) -> None:
    tracer = provider.get_tracer("tests.genai")

    @trace(kind="llm")
    def wrapped(question: str) -> str:
        update_current_span(metrics={"prompt_tokens": 11, "completion_tokens": 4})
        with tracer.start_as_current_span("chat stub") as s:  # the instrumentor's own span
            s.set_attribute("gen_ai.operation.name", "chat")
            s.set_attribute("gen_ai.usage.input_tokens", 11)
            s.set_attribute("gen_ai.usage.output_tokens", 4)
        return "ok"

    (row,) = run_experiment(["q"], wrapped).rows
    assert (row.total_tokens, row.llm_calls) == (15, 1), "as the dataset row counts it"


def test_each_row_is_its_own_trace_with_experiment_metadata(
    exporter: InMemorySpanExporter,
) -> None:
    with propagate(session_id="s-1"), span("outer"):
        result = run_experiment(ROWS[:2], agent, name="prompt-v2")
    roots = [s for s in exporter.get_finished_spans() if s.name == "agent"]
    assert len(roots) == 2
    assert all(s.parent is None for s in roots), "rows never nest under the caller's span"
    for s in roots:
        assert s.attributes["respan.session_id"] == "s-1", "the caller's propagate() applies"
        assert json.loads(s.attributes["respan.metadata"])["experiment"] == "prompt-v2"
    (llm,) = [s for s in exporter.get_finished_spans() if s.name == "fake_llm"]
    assert json.loads(llm.attributes["respan.metadata"])["experiment"] == "prompt-v2"
    assert {f"{s.context.trace_id:032x}" for s in roots} == {r.trace_id for r in result.rows}


def test_builtin_scorers() -> None:
    assert exact_match(" yes\n", "yes") is True
    assert exact_match({"a": 1}, {"a": 1}) is True
    assert exact_match("x", None) is None
    assert contains("Refunds take 14 days", ["refund", "14 DAYS"]) is True
    assert contains("Refunds", "shipping") is False
    assert json_equal('{"b": 2, "a": 1.0}', {"a": 1, "b": 2}) is True
    assert json_equal("not json", "not json") is True
    assert json_equal("[1]", "[2]") is False


def test_bad_arguments_fail_before_any_row_runs() -> None:
    ran: list[int] = []

    def needs_more(input: str, context: str) -> None:
        ran.append(1)

    with pytest.raises(TypeError, match="asks for context"):
        run_experiment(["a"], needs_more)
    with pytest.raises(ValueError, match="concurrency"):
        run_experiment(["a"], str.upper, concurrency=0)
    with pytest.raises(ValueError, match="timeout"):
        run_experiment(["a"], str.upper, timeout=float("inf"))
    with pytest.raises(ValueError, match="no 'input' key"):
        run_experiment([{"question": "a"}], str.upper)
    with pytest.raises(ValueError, match="none is configured"):
        run_experiment("support-qa", str.upper)
    assert ran == []


def test_traced_async_task_and_partial_are_awaited_not_threaded() -> None:
    import functools

    loops: list[int] = []

    @trace(kind="agent")
    async def agent_v2(question: str, *, style: str) -> str:
        loops.append(id(asyncio.get_running_loop()))
        return f"{style}:{question}"

    result = run_experiment(["a", "b"], functools.partial(agent_v2, style="terse"))
    assert [row.output for row in result.rows] == ["terse:a", "terse:b"]
    assert len(set(loops)) == 1, "both rows ran on the run's one loop"
