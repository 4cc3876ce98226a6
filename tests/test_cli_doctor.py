"""respan-otel doctor: every setting checked, the API reached, the key never shown."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from respan_otel import RespanClient
from respan_otel.cli import main
from respan_otel.local import LocalRespan


@pytest.fixture
def local(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalRespan]:
    for name in (
        "RESPAN_API_KEY",
        "RESPAN_BASE_URL",
        "RESPAN_DATASET_ID",
        "OTEL_SDK_DISABLED",
        "OTEL_TRACES_EXPORTER",
        "OTEL_METRICS_EXPORTER",
        "OTEL_LOGS_EXPORTER",
    ):
        monkeypatch.delenv(name, raising=False)
    with LocalRespan(api_key="sk-doctor-secret-123") as server:
        monkeypatch.setenv("RESPAN_BASE_URL", server.base_url)
        yield server


def doctor(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict[str, str]]]:
    code = main(["--json", *args, "doctor"])
    out, err = capsys.readouterr()
    assert "sk-doctor-secret-123" not in out + err
    return code, json.loads(out)


def by_check(report: list[dict[str, str]]) -> dict[str, tuple[str, str]]:
    return {item["check"]: (item["status"], item["detail"]) for item in report}


def test_a_healthy_setup(local, monkeypatch, capsys):
    with RespanClient(api_key=local.api_key, base_url=local.base_url) as client:
        dataset = client.datasets.create(name="prod-runs", is_empty=True)
    monkeypatch.setenv("RESPAN_API_KEY", local.api_key)
    monkeypatch.setenv("RESPAN_DATASET_ID", dataset.id)
    code, report = doctor(capsys)
    checks = by_check(report)
    assert code == 0
    assert checks["API"][0] == "ok"
    assert checks["dataset"] == ("ok", f"{dataset.id} is 'prod-runs'")
    assert checks["capture settings"][0] == "ok"
    assert not [item for item in report if item["status"] != "ok"]


def test_a_wrong_key_fails_and_is_not_shown(local, capsys):
    code, report = doctor(capsys, "--api-key", "sk-wrong-key-456")
    status, detail = by_check(report)["API"]
    assert code == 1
    assert status == "fail"
    assert "401" in detail
    assert "sk-wrong-key-456" not in json.dumps(report)


def test_no_key_is_a_failure_that_says_how_to_fix_it(local, capsys):
    code, report = doctor(capsys)
    assert code == 1
    assert by_check(report)["API key"] == (
        "fail",
        "not set: pass --api-key or set RESPAN_API_KEY",
    )


def test_a_missing_dataset_fails(local, monkeypatch, capsys):
    monkeypatch.setenv("RESPAN_API_KEY", local.api_key)
    monkeypatch.setenv("RESPAN_DATASET_ID", "6d0b2c7e-3a6a-4c09-9c7e-1f2d9e2d3f0a")
    code, report = doctor(capsys)
    assert code == 1
    assert by_check(report)["API"][0] == "fail"
    assert "404" in by_check(report)["API"][1]


def test_bad_values_and_the_launcher_pitfall_are_reported(local, monkeypatch, capsys):
    monkeypatch.setenv("RESPAN_API_KEY", local.api_key)
    monkeypatch.setenv("RESPAN_BATCH_SIZE", "600")
    monkeypatch.setenv("RESPAN_CAPTURE_CONTENT", "perhaps")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp,respan")
    code, report = doctor(capsys)
    checks = by_check(report)
    assert code == 1
    assert checks["capture settings"][0] == "fail"
    assert "RESPAN_CAPTURE_CONTENT='perhaps'" in checks["capture settings"][1]
    assert checks["exporter settings"] == ("fail", "batch_size=600 must be between 1 and 500")
    assert checks["OTEL_TRACES_EXPORTER"][0] == "warn"
    assert "OTEL_METRICS_EXPORTER and OTEL_LOGS_EXPORTER" in checks["OTEL_TRACES_EXPORTER"][1]


def test_the_readable_form(local, monkeypatch, capsys):
    monkeypatch.setenv("RESPAN_API_KEY", local.api_key)
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("ok    capture settings: content on")
    assert "warn  RESPAN_DATASET_ID: not set" in out
