"""Dataset ids are opaque; ``_saved_logs`` and ``id:<id>`` are always ids at a call site
(``@trace(dataset=...)``, ``span(dataset=...)``); anything else not a UUID is a name."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from respan_otel import RespanClient, RespanDatasetExporter, span
from respan_otel._datasets import SAVED_LOGS, dataset_id_of, is_dataset_id
from respan_otel.local import LocalRespan


@pytest.fixture
def local() -> Iterator[LocalRespan]:
    with LocalRespan(api_key="sk-ids") as server:
        yield server


@pytest.fixture
def client(local: LocalRespan) -> Iterator[RespanClient]:
    with RespanClient(local.api_key, local.base_url) as c:
        yield c


@pytest.mark.parametrize(
    ("value", "is_id", "id_"),
    [
        ("_saved_logs", True, "_saved_logs"),
        ("id:ds_support_qa_2024", True, "ds_support_qa_2024"),
        ("id:_saved_logs", True, "_saved_logs"),
        ("6d0b2c7e-3a6a-4c09-9c7e-1f2d9e2d3f0a", True, "6d0b2c7e-3a6a-4c09-9c7e-1f2d9e2d3f0a"),
        ("6D0B2C7E3A6A4C099C7E1F2D9E2D3F0A", True, "6D0B2C7E3A6A4C099C7E1F2D9E2D3F0A"),
        ("ds_support_qa_2024", False, "ds_support_qa_2024"),
        ("support evals", False, "support evals"),
        ("saved_logs", False, "saved_logs"),
    ],
)
def test_the_call_site_rule(value: str, is_id: bool, id_: str) -> None:
    assert is_dataset_id(value) is is_id
    assert dataset_id_of(value) == id_


def test_saved_logs_is_never_a_name_to_create(client: RespanClient) -> None:
    with pytest.raises(ValueError, match="saved-logs collection"):
        client.datasets.get_or_create(SAVED_LOGS)
    assert [d.name for d in client.datasets.list()] == []


def test_the_client_takes_the_explicit_id_form_anywhere_a_dataset_id_goes(
    client: RespanClient,
) -> None:
    ds = client.datasets.create(name="explicit")
    created = client.datasets.logs.create(f"id:{ds.id}", "q", "a")
    assert client.datasets.logs.get(f"id:{ds.id}", created.id).output == "a"
    assert client.datasets.get(f"id:{ds.id}").log_count == 1
    assert client.datasets.logs.summary(f"id:{ds.id}").number_of_requests == 1


def _export(local: LocalRespan, route_spans: object, dataset: str) -> None:
    exporter = RespanDatasetExporter(
        api_key=local.api_key, base_url=local.base_url, requests_per_minute=0
    )
    route_spans(SimpleSpanProcessor(exporter))  # type: ignore[operator]
    with span("row", input={"q": "kept"}, dataset=dataset):
        pass
    exporter.shutdown()


def test_a_trace_into_saved_logs_lands_there_and_creates_no_dataset(
    local: LocalRespan, client: RespanClient, route_spans: object
) -> None:
    _export(local, route_spans, SAVED_LOGS)
    (log,) = list(client.datasets.logs.iter(SAVED_LOGS))
    assert log.input == {"q": "kept"}
    assert [d.name for d in client.datasets.list()] == []


def test_a_trace_with_an_explicit_id_goes_to_that_dataset(
    local: LocalRespan, client: RespanClient, route_spans: object
) -> None:
    ds = client.datasets.create(name="target")
    _export(local, route_spans, f"id:{ds.id}")
    (log,) = list(client.datasets.logs.iter(ds.id))
    assert log.input == {"q": "kept"}
    assert [d.name for d in client.datasets.list()] == ["target"]
