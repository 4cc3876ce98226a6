"""From traced production calls to a CI gate, offline: did the prompt change help?

1. A traced support agent answers "production" questions; its runs become dataset logs.
2. An evaluation dataset is built from those logs, with a reviewer's expected answers.
3. The current prompt and a changed prompt each run over it as an experiment, scored.
4. The two runs are compared, and the new one must pass a threshold, as in CI.

Without ``RESPAN_API_KEY`` it starts a local Respan-compatible server in this process,
so nothing leaves the machine. Run it with ``python examples/experiment.py``.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid

import respan_otel
from respan_otel import RespanClient, run_experiment, trace, update_current_span
from respan_otel.experiments import compare, contains, skip_experiment_logs
from respan_otel.local import LocalRespan

DOCS = {
    "refund": "Refunds are issued within 14 days of receiving the return.",
    "ship": "Orders ship within 2 business days from our Berlin warehouse.",
    "warranty": "Every device has a 2-year warranty covering manufacturing defects.",
}
PROMPT_V1 = "You are a friendly support agent. Summarize the policy in your own words."
PROMPT_V2 = "You are a support agent. Quote the policy exactly, with its numbers."

REVIEWED = {  # what a reviewer says each answer must contain
    "How long does a refund take?": "14 days",
    "When will my order ship?": "2 business days",
    "How long is the warranty?": "2-year",
    "Can I pay with crypto?": "not accepted",
}


@trace(kind="retriever")
def retrieve(question: str) -> list[str]:
    words = question.lower()
    return [text for key, text in DOCS.items() if key in words]


@trace(kind="llm", metadata={"model": "local-echo-1"})
def model(system: str, question: str, context: list[str]) -> str:
    """A deterministic stand-in for a chat model that follows its system prompt."""
    if not context:
        text = "Sorry, I could not find that in our policies."
    elif "exactly" in system:
        text = " ".join(context)
    else:  # paraphrasing loses the numbers, the failure the new prompt is meant to fix
        text = re.sub(r"\d+([- ]\w+)?", "a short while", " ".join(context))
    words = len(system.split()) + len(question.split()) + sum(len(c.split()) for c in context)
    completion = len(text.split())
    update_current_span(
        metrics={
            "prompt_tokens": words,
            "completion_tokens": completion,
            "cost": 1e-6 * (words + 3 * completion),
        }
    )
    return text


@trace(kind="agent")
def answer(question: str, prompt: str = PROMPT_V1) -> str:
    return model(prompt, question, retrieve(question))


@trace(kind="workflow")
def handle_ticket(question: str) -> str:
    """The production entry point: each call becomes logs in the production dataset."""
    return answer(question)


def current_prompt(input: dict[str, str]) -> str:
    """Experiment task: the prompt in production today."""
    return answer(input["question"], prompt=PROMPT_V1)


def changed_prompt(input: dict[str, str]) -> str:
    """Experiment task: the candidate prompt."""
    return answer(input["question"], prompt=PROMPT_V2)


def concise(output: str) -> bool:
    """A custom scorer: answers stay under 25 words."""
    return len(output.split()) <= 25


def main() -> None:
    api_key = os.environ.get("RESPAN_API_KEY")
    suffix = uuid.uuid4().hex[:6]
    with contextlib.ExitStack() as stack:
        if api_key:
            base_url = os.environ.get("RESPAN_BASE_URL", "https://api.respan.ai")
        else:
            server = stack.enter_context(LocalRespan())
            api_key, base_url = server.api_key, server.base_url
        client = stack.enter_context(RespanClient(api_key=api_key, base_url=base_url))
        production = client.datasets.get_or_create("support-agent production")
        respan = respan_otel.configure(
            api_key=api_key,
            base_url=base_url,
            dataset_id=production.id,
            before_send=skip_experiment_logs,  # experiment runs stay out of production data
        )

        # 1. production traffic, traced into "support-agent production"
        for question in REVIEWED:
            handle_ticket(question)
        respan.flush()
        runs = list(
            client.datasets.logs.iter(
                production.id,
                filters={"metadata__span_name": {"operator": "", "value": "handle_ticket"}},
            )
        )
        print(f"1. Traced {len(runs)} production runs into {production.name!r}")

        # 2. an evaluation dataset built from those logs, with reviewed expectations
        evals = client.datasets.create(name=f"support-agent evals {suffix}")
        client.datasets.logs.bulk_create(
            evals.id,
            [
                {
                    "input": log.input,
                    "expected_output": REVIEWED[log.input["question"]],
                    "metadata": {"production_log_id": log.id},
                }
                for log in runs
            ],
        )
        print(f"2. Built {evals.name!r} from them: {len(runs)} rows with expected answers")

        # 3. the current and the changed prompt, each run as a scored experiment
        results = [
            run_experiment(
                evals.id,
                task,
                scorers=[contains, concise],
                name=f"{label} {suffix}",
                client=client,
            )
            for label, task in (("prompt v1", current_prompt), ("prompt v2", changed_prompt))
        ]
        for result in results:
            print(f"\n3. {result.table()}")
            print(f"   results stored in dataset {result.results_dataset_id}")
            if result.experiment_id:  # the local server also keeps the run as an experiment
                experiment = client.experiments.get(result.experiment_id)
                print(f"   experiment {experiment.id}: {experiment.status}")

        # 4. compare, then gate as CI would (`respan-otel experiment run ... --fail-under`)
        print(f"\n4. {compare(*results).table()}")
        problems = results[1].check({"contains": 0.75, "concise": 1.0})
        print("\nCI gate (contains >= 0.75, concise = 1.0):", "; ".join(problems) or "passed")
        respan.flush()
        kept = list(client.datasets.logs.iter(production.id))
        from_experiments = sum(1 for log in kept if "experiment_row" in log.metadata)
        print(f"Production dataset: {len(kept)} logs, {from_experiments} from experiments")
    if not os.environ.get("RESPAN_API_KEY"):
        print("\nThis ran offline, against a local Respan-compatible server.")


if __name__ == "__main__":
    main()
