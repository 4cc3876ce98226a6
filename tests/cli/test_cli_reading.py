"""The CLI's reading commands against a local server: names for ids, time order, aligned
wide characters, trace trees, streaming export and import with progress, delete."""

from __future__ import annotations

import io
import json
import unicodedata
from pathlib import Path

import pytest

from respan_otel import RespanClient
from respan_otel.cli import main
from respan_otel.local import LocalRespan
from tests.test_cli import KEY

TRACE = "0af7651916cd43dd8448eb211c80319c"


def client_of(local: LocalRespan) -> RespanClient:
    return RespanClient(api_key=KEY, base_url=local.base_url)


def span_log(name: str, span: str, parent: str | None, start: str, latency: float) -> dict:
    metadata = {"trace_id": TRACE, "span_id": span, "span_name": name, "log_type": "task"}
    if parent:
        metadata["parent_span_id"] = parent
    return {
        "input": {"step": name},
        "output": "done",
        "metadata": metadata,
        "metrics": {"latency": latency},
        "start_time": start,
        "timestamp": start,
    }


@pytest.fixture(scope="module")
def runs(local: LocalRespan) -> str:
    """A dataset named 'agent runs': a trace of four spans plus two wide-character logs,
    created out of time order."""
    with client_of(local) as client:
        dataset = client.datasets.create(name="agent runs")
        client.datasets.logs.bulk_create(
            dataset.id,
            [
                span_log("fetch", "b2", "a1", "2026-05-01T10:00:00.100Z", 0.2),
                span_log("agent", "a1", None, "2026-05-01T10:00:00Z", 1.0),
                span_log("answer", "c3", "a1", "2026-05-01T10:00:00.400Z", 0.5),
                span_log("llm", "d4", "c3", "2026-05-01T10:00:00.450Z", 0.3),
                {
                    "input": "退款需要多久？",  # noqa: RUF001
                    "output": "14天",
                    "metadata": {"model": "模型-大"},
                    "metrics": {"prompt_tokens": 7, "completion_tokens": 3},
                    "timestamp": "2026-05-02T09:00:00Z",
                },
                {
                    "input": "party 🎉🎉",
                    "output": "ok",
                    "metadata": {"model": "m"},
                    "metrics": {"prompt_tokens": 12345, "completion_tokens": 1},
                    "timestamp": "2026-05-01T12:00:00Z",
                },
            ],
        )
        return dataset.id


def run(capsys: pytest.CaptureFixture[str], local: LocalRespan, *argv: str) -> tuple[int, str, str]:
    code = main(["--api-key", KEY, "--base-url", local.base_url, *argv])
    out, err = capsys.readouterr()
    assert KEY not in out + err
    return code, out, err


def columns(text: str) -> int:
    """Terminal columns of ``text``, counted independently of the CLI's own code."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def test_logs_list_by_name_newest_first_with_the_columns_people_scan(
    capsys: pytest.CaptureFixture[str], local: LocalRespan, runs: str
):
    code, out, err = run(capsys, local, "logs", "list", "agent runs")
    assert (code, err) == (0, "")
    header, _rule, *rows, footer = out.splitlines()
    assert header.split() == [
        "TIME", "ID", "NAME", "TYPE", "STATUS", "MODEL", "TOKENS", "COST", "LATENCY", "INPUT"
    ]  # fmt: skip
    assert [row[:19] for row in rows] == [
        "2026-05-02 09:00:00",
        "2026-05-01 12:00:00",
        "2026-05-01 10:00:00",
        "2026-05-01 10:00:00",
        "2026-05-01 10:00:00",
        "2026-05-01 10:00:00",
    ]
    assert footer == "page 1: 6 of 6 logs"
    # wide characters: every row's TOKENS column ends at the same terminal column
    tokens_end = columns(header[: header.index("TOKENS") + len("TOKENS")])
    for row, tokens in zip(rows[:2], ("10", "12346"), strict=True):
        prefix = row[: row.rindex(tokens) + len(tokens)]  # the last: ids are random hex
        assert columns(prefix) == tokens_end, row
    assert "模型-大" in rows[0]
    assert "🎉🎉" in rows[1]


@pytest.mark.parametrize("sort", [["--sort-by", "-timestamp"], ["--sort-by=-timestamp"]])
def test_sort_by_a_reversed_field_in_either_spelling(
    capsys: pytest.CaptureFixture[str], local: LocalRespan, runs: str, sort: list[str]
):
    code, out, err = run(capsys, local, "logs", "list", runs, *sort)
    assert (code, err) == (0, "")
    assert out.splitlines()[2].startswith("2026-05-02 09:00:00")
    code, out, _ = run(capsys, local, "logs", "list", runs, "--sort-by", "timestamp")
    assert out.splitlines()[2].startswith("2026-05-01 10:00:00")


def test_unknown_and_ambiguous_names_are_one_line_errors(
    capsys: pytest.CaptureFixture[str], local: LocalRespan, runs: str
):
    code, out, err = run(capsys, local, "logs", "list", "no such dataset")
    assert code == 2
    assert out == ""
    assert err.strip() == (
        "respan-otel: error: no dataset named 'no such dataset': see `respan-otel datasets list`"
    )
    with client_of(local) as client:
        ids = [client.datasets.create(name="twin").id for _ in range(2)]
    code, _, err = run(capsys, local, "logs", "list", "twin")
    assert code == 2
    assert all(i in err for i in ids)
    assert len(err.splitlines()) == 1


def test_logs_show_draws_the_trace_as_a_timed_tree(
    capsys: pytest.CaptureFixture[str], local: LocalRespan, runs: str
):
    with client_of(local) as client:
        by_name = {log.metadata.get("span_name"): log.id for log in client.datasets.logs.iter(runs)}
    code, out, err = run(capsys, local, "logs", "show", "agent runs", by_name["llm"])
    assert (code, err) == (0, "")
    tree = out[out.index(f"trace {TRACE} (4 logs; * is this one)") :].splitlines()[1:]
    names = [line[2:].split("  task")[0].rstrip() for line in tree]
    assert names == ["agent", "├─ fetch", "└─ answer", "   └─ llm"]
    assert [line[0] for line in tree] == [" ", " ", " ", "*"]
    assert [line.split()[-1] for line in tree] == [
        by_name[n] for n in ("agent", "fetch", "answer", "llm")
    ]
    assert "1.00 s" in tree[0]
    assert "300.0 ms" in tree[3]
    bars = [
        line[line.index("ms") + 2 if "ms" in line else line.index(" s ") + 2 :] for line in tree
    ]
    starts = [len(bar) - len(bar.lstrip()) for bar in bars]
    assert starts[0] < starts[1] < starts[2] < starts[3], "bars placed at each span's start"

    code, out, _ = run(capsys, local, "logs", "show", runs, by_name["llm"], "--json")
    assert len(json.loads(out)["trace"]) == 4


def test_export_streams_jsonl_to_a_file_with_a_progress_bar(
    capsys: pytest.CaptureFixture[str], local: LocalRespan, runs: str, tmp_path: Path
):
    target = tmp_path / "runs.jsonl"
    code, out, err = run(
        capsys, local, "logs", "export", "agent runs", "-o", str(target), "--progress"
    )
    assert code == 0
    assert out == ""
    assert "exporting [" in err
    assert "6/6 100%" in err
    assert err.rstrip().endswith(f"Exported 6 logs to {target}")
    rows = [json.loads(line) for line in target.read_text("utf-8").splitlines()]
    assert {row["dataset_id"] for row in rows} == {runs}
    assert len(rows) == 6

    code, out, err = run(capsys, local, "logs", "export", runs, "--format", "csv", "--no-progress")
    assert code == 0
    assert err == ""
    lines = out.splitlines()
    assert lines[0].startswith("id,")
    assert len(lines) == 7
    assert "退款需要多久？" in out  # noqa: RUF001


def test_import_reads_what_export_wrote(
    capsys: pytest.CaptureFixture[str], local: LocalRespan, runs: str, tmp_path: Path
):
    source = tmp_path / "runs.jsonl"
    assert run(capsys, local, "logs", "export", runs, "-o", str(source))[0] == 0
    with client_of(local) as client:
        copy = client.datasets.create(name="imported runs").id
    code, out, err = run(
        capsys, local, "logs", "import", "imported runs", str(source), "--progress"
    )
    assert (code, out) == (0, "Imported 6 logs into imported runs\n")
    assert "importing 6" in err
    with client_of(local) as client:
        before = sorted(json.dumps(log.input) for log in client.datasets.logs.iter(runs))
        after = sorted(json.dumps(log.input) for log in client.datasets.logs.iter(copy))
    assert before == after


def test_import_names_the_lines_it_could_not_add(
    capsys: pytest.CaptureFixture[str],
    local: LocalRespan,
    runs: str,
    monkeypatch: pytest.MonkeyPatch,
):
    lines = ['{"input": "fine"}', "not json", "[1, 2]", '{"output": "no input"}', ""]
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(lines)))
    with client_of(local) as client:
        target = client.datasets.create(name="partly").id
    code, out, err = run(capsys, local, "logs", "import", target, "-")
    assert code == 1
    assert out == f"Imported 1 logs into {target}\n"
    assert "line 2: not JSON" in err
    assert "line 3: not a JSON object" in err
    assert "line 4: " in err


def test_datasets_delete_by_name_asks_unless_told(
    capsys: pytest.CaptureFixture[str],
    local: LocalRespan,
    monkeypatch: pytest.MonkeyPatch,
):
    with client_of(local) as client:
        doomed = client.datasets.create(name="doomed").id
        client.datasets.logs.create(doomed, "x", "y")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    code, _, err = run(capsys, local, "datasets", "delete", "doomed")
    assert code == 2
    assert "needs --yes" in err
    code, out, _ = run(capsys, local, "datasets", "delete", "doomed", "--yes")
    assert code == 0
    assert out == f"Deleted dataset 'doomed' ({doomed}) and its 1 logs\n"
    code, _, err = run(capsys, local, "datasets", "delete", "doomed", "--yes")
    assert code == 2
    assert "no dataset named 'doomed'" in err
