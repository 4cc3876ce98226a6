"""Experiments against the local server over HTTP: a dataset in, a results dataset out;
write failures never stop a run; under pytest no backend is reached unless asked."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from respan_otel.client._client import RespanClient
from respan_otel.client._errors import AuthenticationError
from respan_otel.experiments import ExperimentResult, exact_match, run_experiment
from respan_otel.experiments._cli import load_result
from tests.faulty_server import FaultyServer, Reply


def support_answer(question: dict[str, Any]) -> str:
    text = question["question"].lower()
    if "crash" in text:
        raise RuntimeError("upstream 502")
    return "14 days" if "refund" in text else "2 business days"


def seed(client: RespanClient, name: str) -> tuple[str, list[str]]:
    dataset = client.datasets.create(name=name)
    rows = [
        ({"question": "How long do refunds take?"}, "14 days"),
        ({"question": "When does my order ship?"}, "2 business days"),
        ({"question": "Refund for a crash?"}, "14 days"),
        ({"question": "Do you ship to Mars?"}, "we do not"),
    ]
    ids = [
        client.datasets.logs.create(
            dataset.id, q, expected_output=a, metadata={"channel": "email"}
        ).id
        for q, a in rows
    ]
    return dataset.id, ids


def test_dataset_by_name_in_results_dataset_out(client: RespanClient) -> None:
    source_id, log_ids = seed(client, "support-qa-by-name")
    result = run_experiment(
        "support-qa-by-name",
        support_answer,
        scorers=[exact_match],
        name="support prompt v2",
        client=client,
        concurrency=2,
    )
    assert result.source_dataset_id == source_id
    assert sorted(row.row_id for row in result.rows) == sorted(log_ids)
    assert [row.error for row in result.rows].count("RuntimeError: upstream 502") == 1
    assert result.summary["exact_match"].mean == 2 / 3
    assert result.results_dataset_id is not None

    stored = client.datasets.get(result.results_dataset_id)
    assert stored.name == "support prompt v2", "named after the experiment"
    logs = list(client.datasets.logs.iter(result.results_dataset_id))
    assert len(logs) == 4
    by_source = {log.metadata["source_log_id"]: log for log in logs}
    assert sorted(by_source) == sorted(log_ids)
    first = by_source[log_ids[0]]
    assert first.input == {"question": "How long do refunds take?"}
    assert first.output == "14 days"
    assert first.expected_output == "14 days"
    assert first.metrics["exact_match"] == 1
    assert first.metrics["latency"] >= 0
    assert first.metadata["experiment"] == "support prompt v2"
    assert first.metadata["source_dataset_id"] == source_id
    assert first.metadata["channel"] == "email", "the source row's metadata is kept"
    assert (
        first.metadata["trace_id"]
        == next(r for r in result.rows if r.row_id == log_ids[0]).trace_id
    )
    crashed = by_source[log_ids[2]]
    assert crashed.metadata["error"] == "RuntimeError: upstream 502"
    assert "exact_match" not in crashed.metrics

    reloaded = load_result(result.results_dataset_id, lambda: client)
    assert reloaded.summary["exact_match"] == result.summary["exact_match"]
    assert {r.row_id: r.scores for r in reloaded.rows} == {r.row_id: r.scores for r in result.rows}


def test_rows_given_in_memory_are_recorded_with_a_client(client: RespanClient) -> None:
    result = run_experiment(
        [{"input": "a", "expected_output": "A"}], str.upper, scorers=[exact_match], client=client
    )
    assert result.results_dataset_id is not None
    (log,) = client.datasets.logs.iter(result.results_dataset_id)
    assert log.metrics["exact_match"] == 1
    assert "source_log_id" not in log.metadata


def test_record_false_writes_nothing(client: RespanClient) -> None:
    before = {d.id for d in client.datasets.list()}
    source_id, _ = seed(client, "no-record")
    result = run_experiment(source_id, support_answer, client=client, record=False)
    assert len(result.rows) == 4
    assert result.results_dataset_id is None
    assert {d.id for d in client.datasets.list()} == before | {source_id}


def test_write_failure_is_logged_and_the_run_completes(caplog: pytest.LogCaptureFixture) -> None:
    with FaultyServer() as server:
        server.enqueue(Reply(201, {"id": "ds-results", "name": "x"}))
        server.default = Reply(500, {"detail": "database unavailable"})
        with (
            RespanClient("sk-test", server.url, max_retries=0) as wire,
            caplog.at_level(logging.WARNING, logger="respan_otel"),
        ):
            result = run_experiment(["a", "b"], str.upper, client=wire, name="x")
    assert [row.output for row in result.rows] == ["A", "B"]
    assert result.results_dataset_id == "ds-results"
    (warning,) = [r for r in caplog.records if "were not written" in r.getMessage()]
    assert "result.to_jsonl(path)" in warning.getMessage(), "the log line names the fix"
    assert "sk-test" not in caplog.text


def test_under_pytest_nothing_reaches_the_backend_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with FaultyServer() as server:
        monkeypatch.setenv("RESPAN_API_KEY", "sk-real-looking")
        monkeypatch.setenv("RESPAN_BASE_URL", server.url)
        result = run_experiment(["a"], str.upper, scorers=[exact_match])
        assert result.rows[0].output == "A"
        assert result.results_dataset_id is None
        with pytest.raises(ValueError, match="under pytest pass client= explicitly"):
            run_experiment("support-qa", str.upper)
        assert server.requests == [], "no request may reach a backend the test did not ask for"


def test_jsonl_round_trip(tmp_path: Any) -> None:
    result = run_experiment(
        [{"input": {"q": "x"}, "expected_output": "X", "metadata": {"k": 1}}, "y"],
        lambda input: input["q"].upper() if isinstance(input, dict) else input,
        scorers=[exact_match],
        name="round trip",
    )
    path = tmp_path / "run.jsonl"
    text = result.to_jsonl(path)
    assert path.read_text() == text
    assert len(text.splitlines()) == 2
    back = ExperimentResult.from_jsonl(path)
    assert back.name == "round trip"
    assert [r.to_record() for r in back.rows] == [r.to_record() for r in result.rows]
    assert back.to_records() == result.to_records()


def test_a_backend_that_refuses_the_results_dataset_stops_the_run_before_any_row() -> None:
    ran: list[str] = []

    def task(question: str) -> str:
        ran.append(question)
        return question

    with FaultyServer() as server:
        server.enqueue(Reply(401, {"detail": "Invalid API key"}))
        with (
            RespanClient("sk-bad", server.url, max_retries=0) as wire,
            pytest.raises(AuthenticationError),
        ):
            run_experiment(["a"], task, client=wire)
    assert ran == [], "nothing runs when its results cannot be recorded"


def test_dataset_named_by_the_call_site_rule(client: RespanClient) -> None:
    source_id, _ = seed(client, "call-site-rule")
    by_id = run_experiment(f"id:{source_id}", support_answer, client=client, record=False)
    assert by_id.source_dataset_id == source_id
    assert len(by_id.rows) == 4
    with pytest.raises(ValueError, match="no dataset named 'no-such-dataset'"):
        run_experiment("no-such-dataset", support_answer, client=client)
    assert not [d for d in client.datasets.list() if d.name == "no-such-dataset"]
