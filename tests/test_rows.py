"""RowBuilder: which spans become rows, one row per model call, run totals, run input and
output, and content off for every span. Spans are real SDK spans written with other
instrumentations' attribute names; rows are what ``RowBuilder.build`` returns."""

from __future__ import annotations

import json
from typing import Any

import pytest
from opentelemetry.trace import SpanKind

from respan_otel import span, trace, update_current_span
from respan_otel._export._rows import RowBuilder
from respan_otel._export._totals import PendingTotals
from respan_otel._settings import CaptureSettings, set_capture_settings

OI_KIND = "openinference.span.kind"


def llm_attributes(question: str, answer: str, *, tokens: tuple[int, int] = (10, 5)) -> dict:
    """An OpenInference LLM span as LangChain's instrumentation writes one."""
    return {
        OI_KIND: "LLM",
        "input.value": json.dumps({"messages": [[{"lc": 1, "type": "constructor"}]]}),
        "input.mime_type": "application/json",
        "llm.input_messages.0.message.role": "system",
        "llm.input_messages.0.message.content": "Use the context.",
        "llm.input_messages.1.message.role": "user",
        "llm.input_messages.1.message.content": question,
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.content": answer,
        "llm.model_name": "local-model-x",
        "llm.token_count.prompt": tokens[0],
        "llm.token_count.completion": tokens[1],
        "llm.token_count.total": sum(tokens),
        "llm.cost.total": 0.25,
    }


def leaf(tracer: Any, name: str, **options: Any) -> None:
    """A span that starts and ends under the current one."""
    tracer.start_span(name, **options).end()


def chain(tracer: Any, name: str, **attributes: Any) -> Any:
    return tracer.start_as_current_span(name, attributes={OI_KIND: "CHAIN", **attributes})


def rows_of(exporter, **options: Any) -> tuple[list[dict], Any]:
    batch = RowBuilder(**options).build(exporter.get_finished_spans())
    return [row.body for row in batch.rows], batch


def named(rows: list[dict], name: str) -> dict:
    found = [row for row in rows if row["metadata"]["span_name"] == name]
    assert len(found) == 1, [row["metadata"]["span_name"] for row in rows]
    return found[0]


def run_with_plumbing(tracer) -> None:
    """A LangChain-like run: root chain > prompt, sequence > two LLM calls, parser."""
    with chain(tracer, "RunnableSequence", **{"input.value": "q?", "output.value": "a2"}):
        leaf(tracer, "ChatPromptTemplate", attributes={OI_KIND: "PROMPT"})
        with chain(tracer, "inner"):
            leaf(tracer, "llm-1", attributes=llm_attributes("q?", "a1"))
            leaf(tracer, "llm-2", attributes=llm_attributes("again?", "a2", tokens=(7, 3)))
        with chain(tracer, "StrOutputParser", **{"output.value": "a2"}):
            pass


def test_useful_rows_drop_plumbing_and_count_it(exporter, tracer):
    run_with_plumbing(tracer)
    rows, batch = rows_of(exporter)
    assert sorted(row["metadata"]["span_name"] for row in rows) == [
        "RunnableSequence",
        "llm-1",
        "llm-2",
    ]
    assert batch.not_rows == {"plumbing": 3}


def test_the_root_carries_totals_that_flowed_through_dropped_plumbing(exporter, tracer):
    run_with_plumbing(tracer)
    rows, _ = rows_of(exporter)
    metrics = named(rows, "RunnableSequence")["metrics"]
    assert {k: metrics[k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")} == {
        "prompt_tokens": 17,
        "completion_tokens": 8,
        "total_tokens": 25,
    }
    assert metrics["llm_calls"] == 2
    assert metrics["cost"] == pytest.approx(0.5)
    # the LLM rows keep their own numbers, not totals
    assert named(rows, "llm-1")["metrics"]["prompt_tokens"] == 10
    assert "llm_calls" not in named(rows, "llm-1")["metrics"]


def test_llm_rows_hold_messages_with_the_system_prompt_not_the_blob(exporter, tracer):
    run_with_plumbing(tracer)
    rows, _ = rows_of(exporter)
    row = named(rows, "llm-1")
    assert row["input"] == {
        "messages": [
            {"role": "system", "content": "Use the context."},
            {"role": "user", "content": "q?"},
        ]
    }
    assert row["output"] == {"role": "assistant", "content": "a1"}
    assert "lc" not in json.dumps(row["input"])


def test_all_keeps_every_span_and_roots_keeps_the_root_with_its_totals(exporter, tracer):
    run_with_plumbing(tracer)
    everything, _ = rows_of(exporter, rows="all")
    assert len(everything) == 6
    roots, batch = rows_of(exporter, rows="roots")
    assert [row["metadata"]["span_name"] for row in roots] == ["RunnableSequence"]
    assert roots[0]["metrics"]["llm_calls"] == 2
    assert batch.not_rows == {"not-root": 5}


def test_totals_wait_for_a_parent_exported_in_a_later_batch(exporter, tracer):
    run_with_plumbing(tracer)
    spans = exporter.get_finished_spans()
    builder = RowBuilder()
    first = builder.build(spans[:3])  # the prompt and both LLM calls
    later = builder.build(spans[3:])
    assert len(first.rows) == 2
    (root,) = [row.body for row in later.rows]
    assert root["metrics"]["total_tokens"] == 25
    assert root["metrics"]["llm_calls"] == 2


def test_values_the_user_set_win_over_totals(exporter, tracer):
    @trace(kind="workflow")
    def answer(question: str) -> str:
        leaf(tracer, "llm", attributes=llm_attributes(question, "a"))
        update_current_span(metrics={"cost": 9.0})
        return "a"

    answer("q")
    rows, _ = rows_of(exporter)
    root = named(rows, answer.__qualname__)
    assert root["metrics"]["cost"] == 9.0
    assert root["metrics"]["prompt_tokens"] == 10
    assert root["input"] == {"question": "q"}


def test_a_framework_llm_span_around_the_provider_span_is_one_row(exporter, tracer):
    with (
        chain(tracer, "root"),
        tracer.start_as_current_span("ChatOpenAI", attributes=llm_attributes("q", "a")),
    ):
        leaf(
            tracer,
            "chat gpt-4o",
            kind=SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.input_tokens": 10,
                "gen_ai.usage.output_tokens": 5,
            },
        )
    rows, batch = rows_of(exporter)
    assert sorted(row["metadata"]["span_name"] for row in rows) == ["chat gpt-4o", "root"]
    assert batch.not_rows == {"duplicate": 1}
    assert named(rows, "root")["metrics"]["total_tokens"] == 15
    assert named(rows, "root")["metrics"]["llm_calls"] == 1


def test_two_spans_with_the_same_response_id_are_one_row(exporter, tracer):
    call = {
        "gen_ai.operation.name": "chat",
        "gen_ai.response.id": "msg_1",
        "gen_ai.usage.input_tokens": 4,
        "gen_ai.usage.output_tokens": 1,
    }
    with span("run", kind="workflow"):
        for name in ("instrumentor", "sdk"):
            leaf(tracer, name, attributes=call)
    rows, batch = rows_of(exporter)
    assert batch.not_rows == {"duplicate": 1}
    assert named(rows, "run")["metrics"]["total_tokens"] == 5


def test_an_agent_root_takes_the_first_question_and_the_final_answer(exporter, tracer):
    with tracer.start_as_current_span("Agent workflow", attributes={OI_KIND: "AGENT"}):
        leaf(tracer, "turn-1", attributes=llm_attributes("Weather?", ""))
        leaf(tracer, "empty tool", attributes={OI_KIND: "TOOL"})
        leaf(tracer, "turn-2", attributes=llm_attributes("Weather?", "Sun."))
    rows, batch = rows_of(exporter)
    root = named(rows, "Agent workflow")
    assert root["input"] == "Weather?"
    assert root["output"] == "Sun."
    assert batch.not_rows == {"no-content": 1}


def test_capture_off_removes_content_from_every_row_foreign_ones_included(exporter, tracer):
    set_capture_settings(CaptureSettings(capture_content=False))
    run_with_plumbing(tracer)
    rows, _ = rows_of(exporter)
    assert len(rows) == 3
    for row in rows:
        assert row["input"] == ""
        assert "output" not in row
        assert row["metadata"]["log_type"] in ("workflow", "llm")
    assert named(rows, "llm-1")["metrics"]["prompt_tokens"] == 10
    assert named(rows, "llm-1")["metadata"]["model"] == "local-model-x"
    assert named(rows, "RunnableSequence")["metrics"]["llm_calls"] == 2


def test_a_parent_whose_waiting_totals_were_evicted_says_so(exporter, tracer):
    with chain(tracer, "A"), chain(tracer, "A-inner"):
        leaf(tracer, "a-llm", attributes=llm_attributes("q", "a"))
    with chain(tracer, "B"):
        leaf(tracer, "b-llm", attributes=llm_attributes("q", "b"))
    spans = {s.name: s for s in exporter.get_finished_spans()}
    builder = RowBuilder(pending=PendingTotals(max_entries=1))
    builder.build([spans["a-llm"]])  # waits under A-inner
    builder.build([spans["b-llm"]])  # evicts it: the cap is one parent
    batch = builder.build([spans["B"], spans["A-inner"], spans["A"]])
    rows = {row.body["metadata"]["span_name"]: row.body for row in batch.rows}
    assert rows["A"]["metadata"]["totals_incomplete"] is True
    assert "totals_incomplete" not in rows["B"]["metadata"]
    assert rows["B"]["metrics"]["llm_calls"] == 1
    assert batch.incomplete_totals == 1


def test_waiting_totals_expire_after_their_age(exporter, tracer):
    with chain(tracer, "A"):
        leaf(tracer, "a-llm", attributes=llm_attributes("q", "a"))
    child, parent = exporter.get_finished_spans()
    pending = PendingTotals(max_age=0.0)
    builder = RowBuilder(pending=pending)
    builder.build([child])
    assert len(pending) == 1
    (row,) = builder.build([parent]).rows
    assert len(pending) == 0
    assert row.body["metadata"]["totals_incomplete"] is True
    assert "llm_calls" not in row.body["metrics"]


def test_own_spans_are_always_rows(exporter):
    with span("outer", kind="workflow"), span("helper", kind="task"):
        pass
    rows, batch = rows_of(exporter)
    assert sorted(row["metadata"]["span_name"] for row in rows) == ["helper", "outer"]
    assert not batch.not_rows


def test_a_mapping_error_is_counted_not_raised(exporter, tracer):
    def explode(body: dict) -> dict:
        raise RuntimeError("hook broke")

    with span("x"):
        pass
    rows, batch = rows_of(exporter, before_send=explode)
    assert rows == []
    assert batch.not_rows == {"mapping-error": 1}


def test_a_framework_root_of_reprs_with_no_step_beneath_is_no_row(exporter, tracer):
    reprs = {
        "input.value": json.dumps({"nodes": ["<Document(id_=doc-1)>"]}),
        "output.value": json.dumps(["<TextNode(id_=3069)>", "<TextNode(id_=2559)>"]),
    }
    with chain(tracer, "SentenceSplitter.__call__", **reprs):
        leaf(tracer, "TokenTextSplitter.split_text", attributes={OI_KIND: "CHAIN"})
    with chain(tracer, "one-step chain", **{"input.value": "q", "output.value": "a"}):
        pass
    with chain(tracer, "RetrieverQueryEngine.query", **reprs):
        leaf(tracer, "retrieve", attributes={OI_KIND: "RETRIEVER", "input.value": "q"})
    rows, batch = rows_of(exporter)
    assert sorted(row["metadata"]["span_name"] for row in rows) == [
        "RetrieverQueryEngine.query",
        "one-step chain",
        "retrieve",
    ]
    assert batch.not_rows == {"plumbing": 1, "no-content": 1}


def test_the_span_of_a_private_method_is_plumbing_its_public_caller_the_row(exporter, tracer):
    documents = {"retrieval.documents.0.document.content": "Paris.", OI_KIND: "RETRIEVER"}
    with (
        span("run", kind="workflow"),
        tracer.start_as_current_span(
            "VectorIndexRetriever.retrieve", attributes={**documents, "input.value": "q"}
        ),
    ):
        leaf(tracer, "VectorIndexRetriever._retrieve", attributes={OI_KIND: "RETRIEVER"})
    rows, batch = rows_of(exporter)
    assert sorted(row["metadata"]["span_name"] for row in rows) == [
        "VectorIndexRetriever.retrieve",
        "run",
    ]
    assert named(rows, "VectorIndexRetriever.retrieve")["output"] == [{"content": "Paris."}]
    assert batch.not_rows == {"plumbing": 1}
