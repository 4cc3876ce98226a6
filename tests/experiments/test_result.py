"""The result object: summary statistics, the threshold check and its pytest assertion,
and comparisons matched by source row."""

from __future__ import annotations

import pytest

from respan_otel.experiments import ExperimentResult, RowResult, compare, run_experiment


def rows(*scores: dict[str, float | bool] | str) -> list[RowResult]:
    return [
        RowResult(
            index=i,
            input=f"q{i}",
            error=s if isinstance(s, str) else None,
            scores={} if isinstance(s, str) else s,
        )
        for i, s in enumerate(scores)
    ]


def test_summary_of_numbers_and_bools() -> None:
    result = ExperimentResult(
        "r", rows({"ok": True, "grade": 0.5}, {"ok": False, "grade": 1.0}, "ValueError: x")
    )
    ok, grade = result.summary["ok"], result.summary["grade"]
    assert (ok.count, ok.errors, ok.mean, ok.pass_rate, ok.min, ok.max) == (2, 1, 0.5, 0.5, 0, 1)
    assert (grade.mean, grade.pass_rate, grade.min, grade.max) == (0.75, None, 0.5, 1.0)
    assert result.scores("grade") == [0.5, 1.0]


def test_check_counts_unscorable_rows_unless_allowed() -> None:
    result = ExperimentResult("r", rows({"ok": True}, "TimeoutError: slow"))
    assert result.check({"ok": 1.0}) == [
        "ok: 1 of 2 rows could not be scored (task or scorer errors; see row.error and "
        "row.score_errors)"
    ], "a failing row must not pass the gate by having no score"
    assert result.check({"ok": 1.0}, allow_errors=True) == []
    assert result.check({"ok": 0.5, "missing": 0.1}, allow_errors=True) == [
        "no score named 'missing' (scores: ok)"
    ]


def test_assert_scores_fails_with_reasons_and_the_table() -> None:
    result = run_experiment(["a", "b"], str.upper, scorers=[lambda output: output == "A"])
    with pytest.raises(AssertionError) as caught:
        result.assert_scores(**{"<lambda>": 0.9})
    message = str(caught.value)
    assert message.startswith("<lambda>: mean 0.5 is below 0.9")
    assert "SCORE     MEAN   PASS RATE" in message
    result.assert_scores(**{"<lambda>": 0.5})


def test_a_scorer_that_always_raises_still_has_a_summary_line() -> None:
    def judge(output: str) -> dict[str, float]:
        raise RuntimeError("judge down")

    result = run_experiment(["a", "b"], str.upper, scorers=[judge])
    assert result.summary["judge"].errors == 2
    assert result.check({"judge": 0.1}) == [
        "judge: no row was scored",
        "judge: 2 of 2 rows could not be scored (task or scorer errors; see row.error and "
        "row.score_errors)",
    ]


def test_compare_matches_rows_by_source_id_not_position() -> None:
    base = ExperimentResult(
        "a",
        [
            RowResult(index=0, input="x", row_id="log-x", scores={"ok": True}),
            RowResult(index=1, input="y", row_id="log-y", scores={"ok": False}),
        ],
    )
    cand = ExperimentResult(
        "b",
        [  # the server listed the rows in another order
            RowResult(index=0, input="y", row_id="log-y", scores={"ok": True}),
            RowResult(index=1, input="x", row_id="log-x", scores={"ok": True}),
        ],
    )
    comparison = compare(base, cand)
    assert [(c.key, c.input) for c in comparison.changed] == [("log-y", "y")]
    (delta,) = comparison.scores
    assert (delta.baseline, delta.candidate, delta.delta) == (0.5, 1.0, 0.5)
    assert comparison.matched == 2
