"""A small traced workflow, printed as the spans respan-otel records.

Run it with ``python examples/quickstart.py``. Nothing leaves the machine: the spans go
to an in-memory exporter and are printed as a table.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator

from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from respan_otel import PropagationSpanProcessor, propagate, span, trace, update_current_span

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(PropagationSpanProcessor())
provider.add_span_processor(SimpleSpanProcessor(exporter))
otel_trace.set_tracer_provider(provider)

DOCS = {
    "refunds": "Refunds are issued within 14 days of a return.",
    "shipping": "Orders ship within 2 business days.",
}


@trace(kind="retriever")
def retrieve(question: str, top_k: int = 1) -> list[str]:
    return [text for key, text in DOCS.items() if key in question.lower()][:top_k]


@trace(kind="llm", metadata={"model": "tiny-local-model"})
def generate(question: str, context: list[str]) -> Iterator[str]:
    answer = context[0] if context else "I don't know."
    for word in answer.split():
        yield word + " "
    update_current_span(metrics={"prompt_tokens": len(question.split()), "completion_tokens": 9})


@trace(kind="guardrail")
async def check_tone(text: str) -> bool:
    await asyncio.sleep(0.01)
    return "!" not in text


@trace(kind="workflow")
def support_agent(question: str) -> str:
    with span("plan", kind="task", input={"question": question}) as step:
        step.set_output("retrieve, then answer")
    answer = "".join(generate(question, retrieve(question))).strip()
    if not asyncio.run(check_tone(answer)):
        raise ValueError("tone check failed")
    return answer


def main() -> None:
    with propagate(session_id="demo-session", customer_identifier="customer-42"):
        support_agent("How do refunds work?")
        with contextlib.suppress(ValueError):
            support_agent("")
        with contextlib.suppress(AttributeError):
            support_agent(None)  # type: ignore[arg-type]

    print(f"{'span':<16} {'kind':<10} {'status':<7} {'input':<44} output")
    for finished in exporter.get_finished_spans():
        attributes = finished.attributes or {}
        raw_input = attributes.get("respan.input", "")
        raw_output = attributes.get("respan.output", "")
        status = finished.status.status_code.name
        print(
            f"{finished.name:<16} {attributes.get('respan.span.kind', ''):<10} {status:<7} "
            f"{str(raw_input)[:43]:<44} {str(raw_output)[:40]}"
        )
    root = next(s for s in exporter.get_finished_spans() if s.name == "support_agent")
    print("\nsession on every span:", (root.attributes or {}).get("respan.session_id"))
    print("a root span's input, parsed back:", json.loads(str(root.attributes["respan.input"])))


if __name__ == "__main__":
    main()
