"""Zero-code setup: an app with no respan-otel setup, run under opentelemetry-instrument."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from respan_otel import RespanClient
from respan_otel.local import LocalRespan
from tests.faulty_server import FaultyServer, Reply

APP = Path(__file__).parent / "scripts" / "launcher_app.py"
LAUNCHER = Path(sys.executable).parent / "opentelemetry-instrument"


@pytest.fixture
def backend() -> Iterator[tuple[LocalRespan, RespanClient, str]]:
    with (
        LocalRespan() as server,
        RespanClient(api_key=server.api_key, base_url=server.base_url) as client,
    ):
        dataset = client.datasets.create(name="launcher", is_empty=True)
        yield server, client, dataset.id


def launch(server: LocalRespan, dataset_id: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "RESPAN_"))}
    environment.update(
        RESPAN_API_KEY=server.api_key,
        RESPAN_BASE_URL=server.base_url,
        RESPAN_DATASET_ID=dataset_id,
        OTEL_SERVICE_NAME="launched-app",
        RESPAN_SPOOL_DIR=tempfile.mkdtemp(prefix="respan-otel-launch-spool-"),
        **env,
    )
    assert LAUNCHER.exists() or shutil.which("opentelemetry-instrument")
    result = subprocess.run(
        [str(LAUNCHER), sys.executable, str(APP)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result


def stored(client: RespanClient, dataset_id: str) -> list:
    return sorted(
        client.datasets.logs.iter(dataset_id),
        key=lambda log: (log.metadata["span_name"], str(log.input)),
    )


def test_only_respan_variables_needed_with_the_distro(backend):
    server, client, dataset_id = backend
    launch(server, dataset_id)
    logs = stored(client, dataset_id)
    assert [(log.metadata["span_name"], log.input) for log in logs] == [
        ("handle", {"question": "alpha"}),
        ("handle", {"question": "beta"}),
        ("llm call", ""),
        ("llm call", ""),
    ]
    assert {log.metadata["session_id"] for log in logs} == {"launcher-session"}, (
        "propagate() must reach the app's own foreign spans too"
    )
    assert {log.metadata["service_name"] for log in logs} == {"launched-app"}
    assert {log.output for log in logs if log.metadata["span_name"] == "handle"} == {
        "ahpla",
        "ateb",
    }


def test_respan_beside_console(backend):
    server, client, dataset_id = backend
    result = launch(
        server,
        dataset_id,
        OTEL_TRACES_EXPORTER="console,respan",
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
    )
    assert result.stdout.count('"name": "handle"') == 2
    assert len(stored(client, dataset_id)) == 4


def test_respan_beside_otlp_with_nothing_duplicated(backend):
    server, client, dataset_id = backend
    with FaultyServer(handler=lambda request: Reply(200, b"")) as collector:
        launch(
            server,
            dataset_id,
            OTEL_TRACES_EXPORTER="otlp,respan",
            OTEL_METRICS_EXPORTER="none",
            OTEL_LOGS_EXPORTER="none",
            OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
            OTEL_EXPORTER_OTLP_ENDPOINT=collector.url,
        )
        exported = []
        for request in collector.requests:
            assert request.path == "/v1/traces"
            message = ExportTraceServiceRequest()
            message.ParseFromString(request.body)
            for resource_spans in message.resource_spans:
                for scope_spans in resource_spans.scope_spans:
                    exported.extend(span.name for span in scope_spans.spans)
    assert sorted(exported) == ["handle", "handle", "llm call", "llm call"]
    assert len(stored(client, dataset_id)) == 4
