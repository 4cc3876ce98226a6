"""Rows from real LLM frameworks and instrumentations, with stub model servers.

Each setup runs ``tests/integrations/app.py`` in its own interpreter (instrumentors patch
globally) against the OpenAI and Anthropic stubs on 127.0.0.1. The same question is
asked twice: bare (the framework's span is the root) and inside
``@trace(kind="workflow", dataset="support-qa")``. The assertions are on the rows
``RowBuilder`` makes of the finished spans, as the exporter sends them: how many per
run, messages with the system prompt, the answer, model, tokens counted once, totals on
the root, cost, no plumbing, no blob or repr, the dataset of every row, and no content
with capture off. ``docs/integrations.md`` describes these rows, setup by setup.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any, Final

import genai_prices
import pytest

from tests import anthropic_stub as anthropic_api
from tests import openai_stub as openai_api
from tests.integrations.app import DATASET, QUESTION
from tests.scripts.genai_support import ChildRun, run_scripts

APP: Final = Path(__file__).parent / "app.py"
TIMEOUT: Final = 120.0

GENAI_CONTENT: Final = {
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "SPAN_ONLY",
    "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
}
ENVIRONMENTS: Final[dict[str, dict[str, str]]] = {
    "langchain-openinference": {},
    "langchain-traceloop": {"TRACELOOP_TRACE_CONTENT": "true"},
    "openai-openinference": {},
    "openai-v2": GENAI_CONTENT,
    "anthropic-traceloop": {"TRACELOOP_TRACE_CONTENT": "true"},
    "anthropic-openinference": {},
    "agents-openinference": {},
    "llamaindex-openinference": {},
}
"""Setup -> the environment it runs with (each instrumentation's content switch)."""

SECOND_ENVIRONMENT: Final = ("llamaindex-openinference",)
"""Setups whose pins conflict with the dev extra (llama-index-llms-openai wants
openai<3): CI runs them in a venv of their own, ``RESPAN_TEST_SETUPS`` naming them."""
SETUPS: Final = tuple(
    os.environ.get("RESPAN_TEST_SETUPS", "").split(",")
    if os.environ.get("RESPAN_TEST_SETUPS")
    else [setup for setup in ENVIRONMENTS if setup not in SECOND_ENVIRONMENT]
)

ROWS: Final[dict[str, tuple[list[str], list[str]]]] = {
    "langchain-openinference": (["llm", "retriever", "workflow"], ["llm", "retriever", "workflow"]),
    "langchain-traceloop": (["llm", "retriever", "workflow"], ["llm", "retriever", "workflow"]),
    "openai-openinference": (["embedding", "llm"], ["embedding", "llm", "workflow"]),
    # openai-v2 records no embedding content: the bare call is a root (kept), the one
    # inside the workflow is an empty step (skipped; its tokens still count)
    "openai-v2": (["embedding", "llm"], ["llm", "workflow"]),
    "anthropic-traceloop": (["llm"], ["llm", "workflow"]),
    "anthropic-openinference": (["llm"], ["llm", "workflow"]),
    "agents-openinference": (["agent", "llm"], ["llm", "workflow"]),
    # the bare run also has the index's document embedding (a root of its own)
    "llamaindex-openinference": (
        ["embedding", "embedding", "llm", "retriever", "workflow"],
        ["embedding", "llm", "retriever", "workflow"],
    ),
}
"""Setup -> the log types of the rows of the bare run and of the traced run."""

SKIPPED: Final[dict[str, dict[str, int]]] = {
    # RunnableParallel, the retriever's sequence, its lambda, RunnablePassthrough, the
    # prompt template, the parser: six per run, and the inner sequence under @trace
    "langchain-openinference": {"plumbing": 13},
    "langchain-traceloop": {"plumbing": 13},
    "openai-openinference": {},
    "openai-v2": {"no-content": 1},
    # the anthropic SDK's own span of each call, beside the instrumentor's
    "anthropic-traceloop": {"duplicate": 2},
    "anthropic-openinference": {"duplicate": 2},
    # the inner "Agent workflow" and "turn" chains, and the empty agent spans
    "agents-openinference": {"plumbing": 4, "no-content": 3},
    # private methods (_retrieve, _query...), the synthesizer's chains, the text splitter
    # under index building; OpenAI.predict around OpenAI.chat is the same call; the
    # index building's root (reprs of documents and nodes, nothing beneath) is no content
    "llamaindex-openinference": {"plumbing": 22, "no-content": 1, "duplicate": 2},
}
CONTEXT_IN: Final = {"llamaindex-openinference": "user"}
"""Where the retrieved context sits in the LLM call's messages (default: the system one)."""
REQUEST_MODEL_ONLY: Final = frozenset({"agents-openinference", "llamaindex-openinference"})
"""Setups whose LLM spans name the requested model only (``gpt-4o-mini``)."""


@pytest.fixture(scope="module")
def runs() -> dict[str, ChildRun]:
    with openai_api.openai_stub() as openai_server, anthropic_api.anthropic_stub() as claude:
        jobs = {
            setup: (
                APP,
                {"setup": setup, "openai": openai_server.url, "anthropic": claude.url},
                env,
            )
            for setup, env in ENVIRONMENTS.items()
            if setup in SETUPS
        }
        finished = run_scripts(jobs, timeout=TIMEOUT)
    return {setup: run.check() for setup, run in finished.items()}


def rows_of(run: ChildRun, content: str = "on") -> list[dict[str, Any]]:
    return run.data[content]["rows"]  # type: ignore[no-any-return]


def by_run(rows: list[dict[str, Any]]) -> tuple[list[dict], list[dict]]:
    """The rows of the bare run and of the traced run (the one with the ``support`` row)."""
    traced_trace = {
        row["body"]["metadata"]["trace_id"]
        for row in rows
        if row["body"]["metadata"]["span_name"] == "support"
    }
    assert len(traced_trace) == 1
    traced = [row for row in rows if row["body"]["metadata"]["trace_id"] in traced_trace]
    bare = [row for row in rows if row not in traced]
    return bare, traced


def kinds(rows: list[dict[str, Any]]) -> list[str]:
    return sorted(row["body"]["metadata"]["log_type"] for row in rows)


def price(model: str, provider: str, prompt: int, completion: int) -> float:
    usage = genai_prices.Usage(input_tokens=prompt, output_tokens=completion)
    found = genai_prices.calc_price(usage, model, provider_id=provider)
    return float(found.total_price)


EXPECTED_CALL: Final = {
    "openai": (openai_api.RESPONSE_MODEL, openai_api.ANSWER, openai_api.USAGE),
    "anthropic": (
        anthropic_api.MODEL,
        anthropic_api.ANSWER,
        {
            "prompt_tokens": anthropic_api.USAGE["input_tokens"],
            "completion_tokens": anthropic_api.USAGE["output_tokens"],
            "total_tokens": sum(anthropic_api.USAGE.values()),
        },
    ),
}


def provider_of(setup: str) -> str:
    return "anthropic" if setup.startswith("anthropic") else "openai"


@pytest.mark.parametrize("setup", SETUPS)
def test_the_app_answered(runs, setup):
    _, answer, _ = EXPECTED_CALL[provider_of(setup)]
    assert runs[setup].data["answers"] == [answer, answer]


@pytest.mark.parametrize("setup", SETUPS)
def test_rows_per_run_and_what_was_skipped(runs, setup):
    bare, traced = by_run(rows_of(runs[setup]))
    assert (kinds(bare), kinds(traced)) == ROWS[setup]
    assert runs[setup].data["on"]["not_rows"] == SKIPPED[setup]


@pytest.mark.parametrize("setup", SETUPS)
def test_llm_rows_hold_the_conversation_the_answer_model_tokens_and_cost(runs, setup):
    provider = provider_of(setup)
    model, answer, usage = EXPECTED_CALL[provider]
    llm_rows = [
        row["body"] for row in rows_of(runs[setup]) if row["body"]["metadata"]["log_type"] == "llm"
    ]
    assert len(llm_rows) == 2
    for body in llm_rows:
        system, user = body["input"]["messages"]
        assert system["role"] == "system"
        assert user["role"] == "user"
        with_context = user if CONTEXT_IN.get(setup) == "user" else system
        assert "Paris is the capital of France." in with_context["content"]
        assert QUESTION in user["content"]
        assert body["output"] == {"role": "assistant", "content": answer}
        expected_model = "gpt-4o-mini" if setup in REQUEST_MODEL_ONLY else model
        assert body["metadata"]["model"] == expected_model
        tokens = {key: body["metrics"][key] for key in usage}
        assert tokens == usage
        assert body["metrics"]["cost"] == pytest.approx(
            price(expected_model, provider, usage["prompt_tokens"], usage["completion_tokens"])
        )
        assert body["metrics"]["cost"] > 0


@pytest.mark.parametrize("setup", SETUPS)
def test_the_run_row_carries_the_totals_of_the_calls_beneath_it(runs, setup):
    for rows in by_run(rows_of(runs[setup])):
        bodies = [row["body"] for row in rows]
        calls = [b for b in bodies if b["metadata"]["log_type"] in ("llm", "embedding")]
        runs_rows = [b for b in bodies if b["metadata"].get("parent_span_id") is None]
        roots = [b for b in runs_rows if b["metadata"]["log_type"] not in ("llm", "embedding")]
        roots = [b for b in roots if b["metadata"]["span_name"] != "SentenceSplitter.__call__"]
        if not roots:  # bare provider calls: each call is its own root
            continue
        (root,) = roots
        llm_calls = sum(1 for b in calls if b["metadata"]["log_type"] == "llm")
        assert root["metrics"]["llm_calls"] == llm_calls == 1
        prompt = sum(b["metrics"].get("prompt_tokens", 0) for b in calls)
        if setup != "openai-v2":  # there the embedding (4 tokens) is skipped but counted
            assert root["metrics"]["prompt_tokens"] == prompt
        assert root["metrics"]["completion_tokens"] == sum(
            b["metrics"].get("completion_tokens", 0) for b in calls
        )
        assert root["metrics"]["cost"] >= sum(b["metrics"].get("cost", 0) for b in calls) > 0


@pytest.mark.parametrize("setup", SETUPS)
def test_run_rows_hold_the_question_and_the_answer(runs, setup):
    _, answer, _ = EXPECTED_CALL[provider_of(setup)]
    for rows in by_run(rows_of(runs[setup])):
        for row in rows:
            body = row["body"]
            if body["metadata"]["log_type"] not in ("workflow", "agent"):
                continue
            if body["metadata"]["span_name"] == "support":
                # the chain, client, agent or index passed in is a short summary, never
                # walked into (its vectors, keys and clients stay out)
                engine = body["input"].pop("engine")
                if setup == "agents-openinference":  # an Agent is a dataclass: its config
                    assert engine["name"] == "Geographer"
                    assert len(json.dumps(engine)) < 4000
                else:
                    assert isinstance(engine, str), engine
                    assert engine.startswith("<"), engine
                    assert len(engine) < 200, engine
                assert body["input"] == {"question": QUESTION}
            else:
                assert body["input"] == QUESTION
            assert body["output"] == answer


@pytest.mark.parametrize("setup", SETUPS)
def test_no_blob_repr_or_mask_in_any_row(runs, setup):
    for row in rows_of(runs[setup]):
        text = json.dumps(row["body"])
        for needle in ('"lc": 1', "constructor", "ChatMessage(", " object at 0x", "[REDACTED]"):
            assert needle not in text, (needle, row["body"]["metadata"]["span_name"])


@pytest.mark.parametrize("setup", SETUPS)
def test_every_row_of_the_traced_run_goes_to_its_dataset(runs, setup):
    bare, traced = by_run(rows_of(runs[setup]))
    assert {row["dataset"] for row in traced} == {DATASET}
    assert {row["dataset"] for row in bare} == {None}


@pytest.mark.parametrize("setup", SETUPS)
def test_capture_off_sends_the_same_rows_without_any_content(runs, setup):
    on, off = rows_of(runs[setup], "on"), rows_of(runs[setup], "off")
    assert len(off) == len(on)
    for with_content, without in zip(on, off, strict=True):
        body = without["body"]
        assert body["input"] == ""
        assert "output" not in body
        assert body["metrics"].keys() == with_content["body"]["metrics"].keys()
        assert body["metadata"]["log_type"] == with_content["body"]["metadata"]["log_type"]


def test_the_setups_named_are_known():
    assert set(SETUPS) <= ENVIRONMENTS.keys()


def test_retriever_rows_hold_the_query_and_the_documents(runs):
    for setup in {"langchain-openinference", "langchain-traceloop", *SECOND_ENVIRONMENT} & set(
        SETUPS
    ):
        found = [
            r["body"]
            for r in rows_of(runs[setup])
            if r["body"]["metadata"]["log_type"] == "retriever"
        ]
        assert len(found) == 2
        for body in found:
            assert body["input"] == QUESTION
            assert sorted(doc["content"] for doc in body["output"]) == [
                "France is in Europe.",
                "Paris is the capital of France.",
            ]


@pytest.mark.skipif("openai-openinference" not in SETUPS, reason="another environment's setup")
def test_embedding_rows_hold_texts_and_a_summary_never_vectors(runs):
    found = [
        r["body"]
        for r in rows_of(runs["openai-openinference"])
        if r["body"]["metadata"]["log_type"] == "embedding"
    ]
    assert len(found) == 2
    for body in found:
        assert body["input"] == [QUESTION, "Paris"]
        assert body["output"] == {"count": 2, "dimensions": openai_api.EMBEDDING_DIMENSIONS}
        assert body["metadata"]["model"] == "text-embedding-3-small"
        assert body["metrics"]["prompt_tokens"] == openai_api.EMBEDDING_USAGE["prompt_tokens"]


@pytest.mark.parametrize(
    "setup", [s for s in ("anthropic-traceloop", "anthropic-openinference") if s in SETUPS]
)
def test_each_anthropic_call_is_one_row_with_tokens_once(runs, setup):
    spans = Counter(span["scope"] for span in runs[setup].data["spans"])
    assert spans["com.anthropic.sdk.python"] == 2  # the SDK traces each call itself
    rows = [r["body"] for r in rows_of(runs[setup]) if r["body"]["metadata"]["log_type"] == "llm"]
    assert len(rows) == 2
    total = sum(body["metrics"]["total_tokens"] for body in rows)
    assert total == 2 * sum(anthropic_api.USAGE.values())
