"""Computed costs (the ``cost`` extra): model + tokens through genai-prices' bundled data."""

from __future__ import annotations

import subprocess
import sys
import threading

import genai_prices
import pytest

from respan_otel import span
from respan_otel._export._rows import RowBuilder


def chat(tracer, name: str, model: str, **extra) -> None:
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.response.model": model,
        "gen_ai.usage.input_tokens": 1000,
        "gen_ai.usage.output_tokens": 200,
        **extra,
    }
    tracer.start_span(name, attributes=attributes).end()


def rows_by_name(exporter) -> dict[str, dict]:
    batch = RowBuilder().build(exporter.get_finished_spans())
    return {row.body["metadata"]["span_name"]: row.body for row in batch.rows}


def price(model: str) -> float:
    usage = genai_prices.Usage(input_tokens=1000, output_tokens=200)
    return float(genai_prices.calc_price(usage, model, provider_id="openai").total_price)


def test_a_known_model_gets_its_price_and_the_run_its_sum(exporter, tracer):
    with span("run", kind="workflow"):
        chat(tracer, "a", "gpt-4o-mini-2024-07-18")
        chat(tracer, "b", "gpt-4o-2024-08-06")
    rows = rows_by_name(exporter)
    assert rows["a"]["metrics"]["cost"] == pytest.approx(price("gpt-4o-mini-2024-07-18"))
    assert rows["b"]["metrics"]["cost"] == pytest.approx(price("gpt-4o-2024-08-06"))
    assert rows["a"]["metrics"]["cost"] > 0
    assert rows["run"]["metrics"]["cost"] == pytest.approx(
        price("gpt-4o-mini-2024-07-18") + price("gpt-4o-2024-08-06")
    )


def test_an_unknown_model_gets_no_cost_never_a_guess(exporter, tracer):
    with span("run", kind="workflow"):
        chat(tracer, "mine", "acme-internal-llm-7")
    rows = rows_by_name(exporter)
    assert "cost" not in rows["mine"]["metrics"]
    assert "cost" not in rows["run"]["metrics"]
    assert rows["run"]["metrics"]["llm_calls"] == 1


def test_the_cost_a_span_reports_wins(exporter, tracer):
    chat(tracer, "reported", "gpt-4o-mini-2024-07-18", **{"gen_ai.usage.cost": 0.5})
    assert rows_by_name(exporter)["reported"]["metrics"]["cost"] == 0.5


def test_pricing_starts_no_thread(exporter, tracer):
    before = {thread.ident for thread in threading.enumerate()}
    chat(tracer, "a", "gpt-4o-mini-2024-07-18")
    rows_by_name(exporter)
    assert {thread.ident for thread in threading.enumerate()} <= before


def test_importing_the_library_does_not_import_the_price_data():
    code = "import sys, respan_otel; print('genai_prices' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("model", "provider", "prompt", "completion"),
    [
        ("gpt-4o-mini-2024-07-18", "openai", 23, 7),  # a flat price: the per-token fast path
        ("gemini-1.5-pro", "google", 300_000, 1_000),  # tiered above 128k: the full calculation
        ("claude-sonnet-4-5", "anthropic", 250_000, 500),
    ],
)
def test_computed_costs_equal_the_library_s_own_calculation(
    exporter, tracer, model, provider, prompt, completion
):
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.response.model": model,
        "gen_ai.usage.input_tokens": prompt,
        "gen_ai.usage.output_tokens": completion,
    }
    tracer.start_span("call", attributes=attributes).end()
    (row,) = RowBuilder().build(exporter.get_finished_spans()).rows
    usage = genai_prices.Usage(input_tokens=prompt, output_tokens=completion)
    expected = genai_prices.calc_price(usage, model, provider_id=provider).total_price
    assert row.body["metrics"]["cost"] == pytest.approx(float(expected), rel=1e-9)
