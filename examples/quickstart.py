"""The offline quickstart: a traced LLM workflow becomes dataset logs, read back.

Without ``RESPAN_API_KEY`` it starts a local Respan-compatible server in this process,
so nothing leaves the machine. With the key set, it uses the real API (or
``RESPAN_BASE_URL``). Run it with ``python examples/quickstart.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Iterator
from typing import Any

import respan_otel
from respan_otel import RespanClient, propagate, span, trace, update_current_span
from respan_otel.local import DEFAULT_DB, DEFAULT_PORT, LocalRespan

DOCS = {
    "refund": "Refunds are issued within 14 days of receiving the return.",
    "shipping": "Orders ship within 2 business days from our Berlin warehouse.",
    "warranty": "Every device has a two-year warranty covering manufacturing defects.",
}


@trace(kind="retriever")
def retrieve(question: str, top_k: int = 2) -> list[str]:
    """Keyword retrieval standing in for a vector search."""
    words = question.lower()
    return [text for key, text in DOCS.items() if key in words][:top_k]


@trace(
    kind="llm",
    # priced as gpt-4o-mini when the cost extra is installed: pip install 'respan-otel[cost]'
    metadata={"model": "gpt-4o-mini", "temperature": 0.0},
    process_output="".join,  # record the streamed chunks as one text
)
def generate(question: str, context: list[str]) -> Iterator[str]:
    """A streaming 'model': yields the answer word by word, then reports usage."""
    answer = " ".join(context) if context else "Sorry, I could not find that in our docs."
    words = answer.split()
    for word in words:
        yield word + " "
    update_current_span(
        metrics={
            "prompt_tokens": len(question.split()) + sum(len(c.split()) for c in context),
            "completion_tokens": len(words),
        }
    )


@trace(kind="guardrail")
async def moderate(text: str) -> dict[str, Any]:
    """An async check, as a moderation API call would be."""
    await asyncio.sleep(0.005)
    flagged = "password" in text.lower()
    return {"flagged": flagged, "categories": ["credentials"] if flagged else []}


@trace(kind="workflow")
def support_agent(question: str) -> dict[str, Any]:
    """The end-to-end run that becomes one dataset log (its steps become logs too)."""
    if not question.strip():
        raise ValueError("empty question")
    with span("plan", kind="task", input={"question": question}) as step:
        step.set_output({"steps": ["retrieve", "generate", "moderate"]})
    context = retrieve(question)
    answer = "".join(generate(question, context)).strip()
    verdict = asyncio.run(moderate(answer))
    return {"answer": answer, "sources": len(context), "flagged": verdict["flagged"]}


QUESTIONS = [
    "How long does a refund take?",
    "Is there a warranty, and when do you ship?",
    "",  # fails: recorded as an error log
]


def print_table(rows: list[dict[str, Any]]) -> None:
    columns = [("span", 14), ("type", 10), ("status", 6), ("input", 40), ("output", 36)]
    header = "  ".join(f"{name:<{width}}" for name, width in columns)
    print(header + "  tokens  cost (USD)  latency")
    for row in rows:
        cells = [str(row[name])[:width] for name, width in columns]
        cost = "-" if row["cost"] is None else f"{row['cost']:.7f}"
        print(
            "  ".join(f"{cell:<{width}}" for cell, (_, width) in zip(cells, columns, strict=True))
            + f"  {row['tokens']:>6}  {cost:>10}  {row['latency']:>6.3f}s"
        )


def main() -> None:
    api_key = os.environ.get("RESPAN_API_KEY")
    run_id = f"quickstart-{uuid.uuid4().hex[:8]}"
    with contextlib.ExitStack() as stack:
        if api_key:
            base_url = os.environ.get("RESPAN_BASE_URL", "https://api.respan.ai")
            where = base_url
        else:
            # kept in the file `respan-otel serve` opens, so its viewer shows these runs
            server = stack.enter_context(LocalRespan(db=DEFAULT_DB))
            api_key, base_url = server.api_key, server.base_url
            where = f"a local Respan-compatible server at {base_url}"
        client = stack.enter_context(RespanClient(api_key=api_key, base_url=base_url))
        dataset = client.datasets.get_or_create("respan-otel quickstart")
        respan = respan_otel.configure(
            api_key=api_key,
            base_url=base_url,
            dataset_id=dataset.id,
            service_name="support-agent",
        )

        with propagate(custom_identifier=run_id, session_id="session-1", metadata={"app": "demo"}):
            for question in QUESTIONS:
                with contextlib.suppress(ValueError):
                    support_agent(question)
        respan.flush()

        logs = list(
            client.datasets.logs.iter(
                dataset.id,
                filters={"metadata__custom_identifier": {"operator": "", "value": run_id}},
            )
        )
        first_seen: dict[str, str] = {}
        for log in sorted(logs, key=lambda log: str(log.raw.get("start_time"))):
            first_seen.setdefault(log.metadata.get("trace_id", ""), str(log.raw.get("start_time")))
        logs.sort(
            key=lambda log: (
                first_seen[log.metadata.get("trace_id", "")],
                str(log.raw.get("start_time")),
            )
        )
        rows = [
            {
                "span": log.metadata.get("span_name", ""),
                "type": log.metadata.get("log_type", ""),
                "status": "error" if log.metadata.get("error_type") else "ok",
                "input": _short(log.input),
                "output": _short(log.output)
                if log.metadata.get("error_type") is None
                else log.metadata.get("error_message", ""),
                "tokens": int(log.metrics.get("total_tokens", 0)),
                # the call's cost, and on the workflow row the run's total (cost extra)
                "cost": log.metrics.get("cost"),
                "latency": float(log.metrics.get("latency", 0.0)),
            }
            for log in logs
        ]
        print(f"Stored {len(logs)} dataset logs in {dataset.name!r} on {where}:\n")
        print_table(rows)
        print(f"\nDelivery: {respan.stats}")
        respan.shutdown()
    if not os.environ.get("RESPAN_API_KEY"):
        print(
            "\nThis ran offline. To send to Respan, set RESPAN_API_KEY (and RESPAN_BASE_URL "
            "if you use another host) and run it again."
        )
        print(
            f"See these runs as trace trees: run `respan-otel serve` in this folder (it opens "
            f"{DEFAULT_DB}) and open http://127.0.0.1:{DEFAULT_PORT}/ with the key it prints."
        )


def _short(value: Any) -> str:
    import json

    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text.replace("\n", " ")


if __name__ == "__main__":
    main()
