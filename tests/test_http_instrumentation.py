"""Under RequestsInstrumentor, HTTP spans never become logs and the exporter is never traced.

Each mode runs ``tests/scripts/genai_http_app.py`` in its own interpreter (the
instrumentor patches ``requests`` globally, and the exporter itself sends with
``requests``): the app calls a stub server with ``requests``, inside ``propagate()`` so
its HTTP spans carry our ids, then runs one ``@trace`` workflow that calls it again. The
Respan exporter sits on the same provider as an in-memory exporter, behind a
``BatchSpanProcessor`` (export on its worker thread), a ``SimpleSpanProcessor`` (in the
app thread) or a bare processor that calls ``export()`` without the SDK's
``suppress_instrumentation``, which only the exporter's own suppression then covers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pytest

from respan_otel import RespanClient
from respan_otel.client._types import DatasetLog
from respan_otel.local import LocalRespan
from tests.faulty_server import FaultyServer, RecordedRequest, Reply
from tests.scripts.genai_support import ChildRun, run_scripts

SCRIPT: Final = Path(__file__).parent / "scripts" / "genai_http_app.py"
TIMEOUT: Final = 30.0
MODES: Final = ("batch", "simple", "direct")
APP_CALLS: Final = [("GET", "/health"), ("POST", "/v1/items"), ("POST", "/search")]
"""The app's own requests, in order; ``/search`` is made inside the workflow."""
NOTHING_SENT: Final = {
    "exported": 0,
    "failed": 0,
    "dropped": 0,
    "spooled": 0,
    "replayed": 0,
    "dead_lettered": 0,
    "skipped_spans": 2,
    "incomplete_totals": 0,
    "requests": 0,
    "rate_limited": 0,
}


@dataclass
class AppRun:
    mode: str
    run: ChildRun
    app_url: str
    respan_url: str
    app_requests: list[RecordedRequest]
    datasets: list[str]
    logs: list[DatasetLog]

    @property
    def data(self) -> dict[str, Any]:
        return self.run.data

    @property
    def spans(self) -> list[dict[str, Any]]:
        return self.data["spans"]  # type: ignore[no-any-return]

    def http_spans(self) -> list[dict[str, Any]]:
        return [s for s in self.spans if s["kind"] == "CLIENT"]


@pytest.fixture(scope="module")
def runs() -> Iterator[dict[str, AppRun]]:
    """All modes at once, against one app server and one LocalRespan."""
    app = FaultyServer(handler=lambda request: Reply(200, {"ok": True, "hits": 3}))
    with (
        app,
        LocalRespan() as server,
        RespanClient(api_key=server.api_key, base_url=server.base_url) as client,
    ):
        jobs = {
            mode: (
                SCRIPT,
                {
                    "app": f"{app.url}/{mode}",
                    "respan": server.base_url,
                    "api_key": server.api_key,
                    "dataset": f"http-noise-{mode}",
                    "session": f"session-{mode}",
                    "mode": mode,
                },
                {},
            )
            for mode in MODES
        }
        finished = run_scripts(jobs, timeout=TIMEOUT)
        all_datasets = list(client.datasets.list())
        result = {}
        for mode in MODES:
            datasets = [d.id for d in all_datasets if d.name == f"http-noise-{mode}"]
            result[mode] = AppRun(
                mode=mode,
                run=finished[mode].check(),
                app_url=f"{app.url}/{mode}",
                respan_url=server.base_url,
                app_requests=[r for r in app.requests if r.path.startswith(f"/{mode}/")],
                datasets=datasets,
                logs=[log for dataset in datasets for log in client.datasets.logs.iter(dataset)],
            )
        yield result


@pytest.mark.parametrize("mode", MODES)
def test_the_apps_requests_spans_are_exported_but_never_become_logs(runs, mode):
    app = runs[mode]
    assert app.data["statuses"] == [200, 200]
    assert [(r.method, r.path) for r in app.app_requests] == [
        (method, f"/{mode}{path}") for method, path in APP_CALLS
    ]
    http = app.http_spans()
    assert [
        (s["name"], s["attributes"]["http.method"], s["attributes"]["http.url"]) for s in http
    ] == [(method, method, app.app_url + path) for method, path in APP_CALLS]
    assert all(s["attributes"]["http.status_code"] == 200 for s in http)
    assert [s["attributes"].get("respan.session_id") for s in http] == [f"session-{mode}"] * 3, (
        "propagate() stamps its ids on HTTP spans too; they must still not be logs"
    )
    assert [s["is_log"] for s in http] == [False, False, False]
    assert app.data["after_http_only"] == NOTHING_SENT, "HTTP spans alone send nothing"
    final = app.data["final"]
    assert {key: final[key] for key in ("exported", "failed", "dropped", "skipped_spans")} == {
        "exported": 1,
        "failed": 0,
        "dropped": 0,
        "skipped_spans": 3,
    }


@pytest.mark.parametrize("mode", MODES)
def test_only_the_workflow_became_a_log(runs, mode):
    app = runs[mode]
    assert len(app.datasets) == 1, "the exporter looked the dataset name up and created it once"
    assert len(app.logs) == 1
    log = app.logs[0]
    assert log.input == {"query": "opentelemetry"}
    assert log.output == {"status": 200, "hits": 3}
    assert log.output == app.data["result"]
    assert log.metadata["log_type"] == "workflow"
    assert log.metadata["span_name"] == "search"
    assert log.metadata["session_id"] == f"session-{mode}"


@pytest.mark.parametrize("mode", MODES)
def test_the_exporters_own_requests_are_never_traced(runs, mode):
    app = runs[mode]
    names = sorted(s["name"] for s in app.spans)
    assert names == ["GET", "POST", "POST", "search"], "total spans = the app's spans"
    urls = [s["attributes"].get("http.url", "") for s in app.spans]
    assert not [url for url in urls if url.startswith(app.respan_url)]
    assert all(url.startswith(app.app_url) for url in urls if url)
    assert app.data["final"]["requests"] >= 1, "the exporter did send: there was traffic to trace"


@pytest.mark.parametrize(
    ("mode", "in_app_thread"), [("batch", False), ("simple", True), ("direct", True)]
)
def test_export_ran_where_the_mode_says(runs, mode, in_app_thread):
    data = runs[mode].data
    threads = data["export_threads"]
    assert len(threads) == 1, threads
    assert (threads[0] == data["main_thread"]) is in_app_thread
