"""The respan-otel command, run in-process against a local server, plus one real process."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

import respan_otel.local
from respan_otel.cli import main
from respan_otel.client._client import RespanClient
from respan_otel.local import LocalRespan

KEY = "sk-cli-test-key"


@pytest.fixture(scope="module")
def local() -> Iterator[LocalRespan]:
    with LocalRespan(api_key=KEY) as server:
        yield server


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RESPAN_API_KEY", raising=False)
    monkeypatch.delenv("RESPAN_BASE_URL", raising=False)


@pytest.fixture
def dataset(local: LocalRespan) -> tuple[str, list[str]]:
    """A dataset with three logs; yields its id and the log ids."""
    with RespanClient(KEY, local.base_url) as client:
        dataset_id = client.datasets.create(name="cli-logs").id
        ids = [
            client.datasets.logs.create(
                dataset_id, {"question": f"q{i}"}, f"answer {i}", metadata={"model": m}
            ).id
            for i, m in enumerate(["gpt-4o", "gpt-4o-mini", "gpt-4o"])
        ]
    return dataset_id, ids


def run(
    capsys: pytest.CaptureFixture[str], local: LocalRespan | None, *argv: str
) -> tuple[int, str, str]:
    prefix = ["--api-key", KEY, "--base-url", local.base_url] if local is not None else []
    code = main([*prefix, *argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_clean_error_line(err: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("respan-otel: error: ")
    assert "Traceback" not in err
    assert KEY not in err


def test_datasets_create_and_list(capsys: pytest.CaptureFixture[str], local: LocalRespan) -> None:
    code, out, err = run(capsys, local, "datasets", "create", "cli-made", "--description", "d")
    assert (code, err) == (0, "")
    assert out.startswith("Created dataset 'cli-made' with id ")

    code, out, err = run(capsys, local, "datasets", "create", "cli-json", "--json")
    assert code == 0
    created = json.loads(out)
    assert created["name"] == "cli-json"

    code, out, _ = run(capsys, local, "datasets", "list")
    assert code == 0
    header, rule, *rows = out.splitlines()
    assert header.split() == ["ID", "NAME", "STATUS", "LOGS", "CREATED"]
    assert set(rule) <= {"-", " "}
    assert any("cli-made" in row for row in rows)
    assert any(created["id"] in row for row in rows)

    code, out, _ = run(capsys, local, "--json", "datasets", "list")
    assert code == 0
    assert created["id"] in {item["id"] for item in json.loads(out)}


def test_logs_list_table_and_json(
    capsys: pytest.CaptureFixture[str], local: LocalRespan, dataset: tuple[str, list[str]]
) -> None:
    dataset_id, ids = dataset
    code, out, err = run(capsys, local, "logs", "list", dataset_id)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == [
        "TIME", "ID", "NAME", "TYPE", "STATUS", "MODEL", "TOKENS", "COST", "LATENCY", "INPUT"
    ]  # fmt: skip
    assert sum(any(i in line for i in ids) for line in lines) == 3
    assert lines[-1] == "page 1: 3 of 3 logs"

    filters = json.dumps({"metadata__model": {"operator": "eq", "value": ["gpt-4o"]}})
    code, out, _ = run(
        capsys,
        local,
        "logs",
        "list",
        dataset_id,
        "--filters",
        filters,
        "--page-size",
        "1",
        "--json",
    )
    assert code == 0
    page = json.loads(out)
    assert page["count"] == 2
    assert len(page["results"]) == 1
    assert page["next"]

    code, out, _ = run(
        capsys, local, "logs", "list", dataset_id, "--page-size", "2", "--page", "2",
        "--sort-by=-timestamp",
    )  # fmt: skip
    assert code == 0
    assert out.splitlines()[-1] == "page 2: 1 of 3 logs"


def test_logs_get(
    capsys: pytest.CaptureFixture[str], local: LocalRespan, dataset: tuple[str, list[str]]
) -> None:
    dataset_id, ids = dataset
    code, out, err = run(capsys, local, "logs", "get", dataset_id, ids[1])
    assert (code, err) == (0, "")
    assert f"id               {ids[1]}" in out
    assert '"question": "q1"' in out
    assert "answer 1" in out
    assert "gpt-4o-mini" in out

    code, out, _ = run(capsys, local, "logs", "get", dataset_id, ids[1], "--json")
    assert code == 0
    assert json.loads(out)["input"] == {"question": "q1"}


def test_env_configuration(
    capsys: pytest.CaptureFixture[str], local: LocalRespan, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RESPAN_API_KEY", KEY)
    monkeypatch.setenv("RESPAN_BASE_URL", local.base_url + "/api")
    code, out, _ = run(capsys, None, "datasets", "list", "--json")
    assert code == 0
    assert isinstance(json.loads(out), list)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["logs", "list", "DS", "--filters", "{not json"], "--filters is not valid JSON"),
        (["logs", "list", "DS", "--filters", "[1]"], "--filters must be a JSON object"),
        (
            ["logs", "list", "DS", "--filters", '{"cost": {"operator": "between", "value": 1}}'],
            "unknown operator 'between'",
        ),
        (["logs", "list", "DS", "--page-size", "500"], "page_size must be an integer from 1"),
        (["logs", "list", "DS", "--page", "0"], "page must be an integer of at least 1"),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str], local: LocalRespan, argv: list[str], needle: str
) -> None:
    code, out, err = run(capsys, local, *argv)
    assert code == 2
    assert out == ""
    assert_one_clean_error_line(err)
    assert needle in err


def test_api_errors_exit_1_with_one_line(
    capsys: pytest.CaptureFixture[str], local: LocalRespan
) -> None:
    code, _, err = run(capsys, local, "logs", "get", "00000000-0000-4000-8000-000000000000", "x")
    assert code == 1
    assert_one_clean_error_line(err)
    assert "-> 404: Dataset not found" in err


def test_wrong_key(capsys: pytest.CaptureFixture[str], local: LocalRespan) -> None:
    code = main(["--api-key", "sk-wrong-key", "--base-url", local.base_url, "datasets", "list"])
    _, err = capsys.readouterr()
    assert code == 1
    assert_one_clean_error_line(err)
    assert "-> 401" in err
    assert "sk-wrong-key" not in err


def test_missing_key(capsys: pytest.CaptureFixture[str], local: LocalRespan) -> None:
    code = main(["--base-url", local.base_url, "datasets", "list"])
    _, err = capsys.readouterr()
    assert code == 2
    assert_one_clean_error_line(err)
    assert "RESPAN_API_KEY" in err
    assert "--api-key" in err


def test_unreachable_server(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--api-key", KEY, "--base-url", "http://127.0.0.1:9", "--max-retries", "0"]
    code = main([*argv, "datasets", "list", "--timeout", "2"])
    _, err = capsys.readouterr()
    assert code == 1
    assert_one_clean_error_line(err)
    assert "connection failed" in err


def test_insecure_base_url_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--api-key", KEY, "--base-url", "http://respan.example", "datasets", "list"])
    _, err = capsys.readouterr()
    assert code == 2
    assert_one_clean_error_line(err)
    assert "allow_insecure_http" in err
    code = main(["--api-key", KEY, "--base-url", "https://x", "--timeout", "0", "datasets", "list"])
    _, err = capsys.readouterr()
    assert code == 2
    assert "timeout must be a number of seconds > 0" in err


def test_serve_passes_its_options(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(respan_otel.local, "serve", lambda **kwargs: calls.append(kwargs))
    assert main(["serve"]) == 0
    assert main(
        ["serve", "--host", "0.0.0.0", "--port", "9000", "--db", ":memory:",
         "--api-key", "k", "--rate-limit-per-minute", "30"]
    ) == 0  # fmt: skip
    assert calls == [
        {
            "host": "127.0.0.1",
            "port": 8787,
            "db": "respan-local.db",
            "api_key": None,
            "rate_limit_per_minute": None,
        },
        {
            "host": "0.0.0.0",
            "port": 9000,
            "db": ":memory:",
            "api_key": "k",
            "rate_limit_per_minute": 30,
        },
    ]


def test_help_and_no_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out, _ = capsys.readouterr()
    for word in ("serve", "datasets", "logs", "--api-key", "--base-url", "--json"):
        assert word in out
    assert main(["logs", "list", "--help"]) == 0
    out, _ = capsys.readouterr()
    assert "--filters" in out
    assert "metadata__model" in out
    assert main([]) == 2
    assert main(["datasets"]) == 2
    assert main(["logs", "list"]) == 2
    _, err = capsys.readouterr()
    assert "Traceback" not in err


def test_real_process_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "respan_otel.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "usage: respan-otel" in result.stdout
    assert "serve" in result.stdout


def test_serve_on_a_taken_port_fails_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["serve", "--port", str(port), "--db", ":memory:", "--api-key", "k"])
    _, err = capsys.readouterr()
    assert code == 1
    assert_one_clean_error_line(err)
    assert "in use" in err.lower() or "errno" in err.lower()
