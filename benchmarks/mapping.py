"""Worker: the mapping's cost per span, before and after the row builder, same process.

"Before" is the mapping as it was on main at ``BASELINE`` (its ``select_log``, one call
per span, which is all the exporter did then), read from git and loaded beside the
current code; "after" is ``RowBuilder.build`` (row selection, duplicates, run totals,
computed costs included). Two workloads: our own ``@trace`` spans (typical ~1 KB logs),
and framework runs written with OpenInference, Traceloop and GenAI attribute names
(chains, a prompt template, a retriever, LLM calls with flattened messages and blobs).
Each round times both (CPU time) over the same finished spans, one right after the
other; the ratio is of the best rounds (CPU time on a shared box only ever grows).
"""

from __future__ import annotations

import gc
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import respan_otel
from respan_otel._export._rows import RowBuilder
from respan_otel._redact import get_redactor
from respan_otel._settings import capture_settings

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "6190494901340c93eb9fcf1becf501114ea025b6"
"""main just before the row builder and the conventions package landed."""


def old_mapping() -> Any:
    """The baseline's ``respan_otel/_export/_mapping.py``, loaded as a module of its own."""
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{BASELINE}:respan_otel/_export/_mapping.py"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "baseline_mapping.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("baseline_mapping", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module


def llm(question: str, answer: str) -> dict[str, Any]:
    blob = [[{"lc": 1, "type": "constructor", "kwargs": {"content": question}}]]
    return {
        "openinference.span.kind": "LLM",
        "input.value": json.dumps({"messages": blob}),
        "input.mime_type": "application/json",
        "output.value": json.dumps({"generations": [[{"text": answer}]]}),
        "output.mime_type": "application/json",
        "llm.input_messages.0.message.role": "system",
        "llm.input_messages.0.message.content": "Answer from the context. " + answer,
        "llm.input_messages.1.message.role": "user",
        "llm.input_messages.1.message.content": question,
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.content": answer,
        "llm.invocation_parameters": json.dumps({"model": "gpt-4o-mini", "temperature": 0.2}),
        "llm.model_name": "gpt-4o-mini-2024-07-18",
        "llm.provider": "openai",
        "llm.token_count.prompt": 230,
        "llm.token_count.completion": 70,
        "llm.token_count.total": 300,
        "metadata": json.dumps({"ls_provider": "openai", "ls_model_name": "gpt-4o-mini"}),
    }


def framework_run(tracer: Any, i: int) -> None:
    question, answer = f"question {i}: what is the capital of France?", "Paris. " * 20
    chain = {"openinference.span.kind": "CHAIN", "input.mime_type": "application/json"}
    with tracer.start_as_current_span(
        "RunnableSequence", attributes={**chain, "input.value": json.dumps({"q": question})}
    ):
        tracer.start_span(
            "ChatPromptTemplate", attributes={"openinference.span.kind": "PROMPT"}
        ).end()
        documents = {
            f"retrieval.documents.{d}.document.{key}": value
            for d in range(3)
            for key, value in (("content", answer), ("id", f"doc-{d}"), ("score", 0.5))
        }
        tracer.start_span(
            "Retriever",
            attributes={
                "openinference.span.kind": "RETRIEVER",
                "input.value": question,
                **documents,
            },
        ).end()
        tracer.start_span("ChatOpenAI", attributes=llm(question, answer)).end()
        tracer.start_span(
            "chat gpt-4o-mini",
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
                "gen_ai.input.messages": json.dumps(
                    [{"role": "user", "parts": [{"type": "text", "content": question}]}]
                ),
                "gen_ai.output.messages": json.dumps(
                    [{"role": "assistant", "parts": [{"type": "text", "content": answer}]}]
                ),
                "gen_ai.usage.input_tokens": 40,
                "gen_ai.usage.output_tokens": 20,
            },
        ).end()
        tracer.start_span(
            "execute_task StrOutputParser",
            attributes={
                "traceloop.span.kind": "task",
                "traceloop.entity.input": json.dumps({"inputs": answer, "tags": [], "kwargs": {}}),
                "traceloop.entity.output": json.dumps({"outputs": answer, "kwargs": {}}),
            },
        ).end()


def own_run(i: int) -> None:
    @respan_otel.trace(kind="llm", metadata={"model": "bench-model", "prompt_version": 3})
    def answer(question: str, passages: list[str], temperature: float = 0.2) -> dict[str, Any]:
        respan_otel.update_current_span(metrics={"prompt_tokens": 812, "completion_tokens": 64})
        return {"text": "Paris. " * 28, "citations": [0, 2]}

    answer(f"question {i}? " * 8, ["a passage about the capital, ranked by score " * 2] * 3)


_MEMORY = InMemorySpanExporter()
_PROVIDER = TracerProvider()
_PROVIDER.add_span_processor(SimpleSpanProcessor(_MEMORY))


def spans_of(make: Any, count: int) -> list[ReadableSpan]:
    from opentelemetry import trace as otel_trace

    if otel_trace.get_tracer_provider() is not _PROVIDER:
        otel_trace.set_tracer_provider(_PROVIDER)
    _MEMORY.clear()
    tracer = _PROVIDER.get_tracer("bench.foreign")
    for i in range(count):
        make(tracer, i)
    return list(_MEMORY.get_finished_spans())


def measure(spans: list[ReadableSpan], old: Any, rounds: int) -> dict[str, Any]:
    """CPU µs per span of both paths, interleaved round by round (the box is shared: a
    round times both paths a moment apart)."""
    redactor = get_redactor(capture_settings().redact_keys)
    before, after = [], []
    gc.collect()
    gc.disable()  # a collection lands in one path's round or the other's: noise, not cost
    try:
        timed(spans, old, redactor, before, after, rounds)
    finally:
        gc.enable()
    return {
        "spans": len(spans),
        "before_us": before,
        "after_us": after,
        # best of the rounds on both sides: other processes on a shared box only add
        "ratio": min(after) / min(before),
    }


def timed(
    spans: list[ReadableSpan],
    old: Any,
    redactor: Any,
    before: list[float],
    after: list[float],
    rounds: int,
) -> None:
    for _ in range(rounds):
        started = time.process_time()
        for span in spans:
            old.select_log(span, redactor=redactor)
        before.append((time.process_time() - started) / len(spans) * 1e6)
        builder = RowBuilder(redactor=redactor)
        started = time.process_time()
        for start in range(0, len(spans), 500):  # the exporter's batches
            builder.build(spans[start : start + 500])
        after.append((time.process_time() - started) / len(spans) * 1e6)


def main(args: dict[str, Any]) -> dict[str, Any]:
    old = old_mapping()
    own = spans_of(lambda tracer, i: own_run(i), args["own"])
    frameworks = spans_of(framework_run, args["runs"])
    # warm up both paths (imports, the price data's first load) before timing
    measure(own[:50] + frameworks[:50], old, 1)
    return {
        "baseline": BASELINE,
        "ours": measure(own, old, args["rounds"]),
        "frameworks": measure(frameworks, old, args["rounds"]),
    }


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
