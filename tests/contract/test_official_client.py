"""The official generated client (``respan-api`` 0.1.46, the last with datasets) sends
every dataset and experiment operation it has to the local server, over real sockets,
and parses every answer with its own pydantic types. A parse error fails the test; so
does an operation of that client that this file does not exercise."""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Iterator

import httpx
import pytest

pytest.importorskip("respan", reason="respan-api (the official client) is a dev dependency")

from respan import RespanClient as OfficialClient
from respan.core.api_error import ApiError
from respan.datasets.client import DatasetsClient
from respan.datasets.types import (
    CreateDatasetLogResponse,
    CreateDatasetResponse,
    ImportDatasetLogsResponse,
    ListDatasetEvalRunsResponse,
    ListDatasetLogsResponseCount,
    ListDatasetLogsResponseMessage,
    ListDatasetsResponse,
    RemoveDatasetLogsResponse,
    ReplaceDatasetLogResponse,
    RetrieveDatasetLogResponse,
    RetrieveDatasetResponse,
    RunEvalOnDatasetResponse,
    SummarizeDatasetLogsFilteredResponse,
    UpdateDatasetLogResponse,
    UpdateDatasetResponse,
)
from respan.experiments.client import ExperimentsClient
from respan.experiments.types import (
    CreateExperimentResponse,
    FilterExperimentScoreHistogramResponse,
    FilterExperimentSpansSummaryResponse,
    FilterExperimentsSummaryResponse,
    ListExperimentSpansResponseResultsItem,
    ListExperimentsResponseResultsItem,
    ReplaceExperimentResponse,
    RetrieveExperimentResponse,
    RetrieveExperimentSpanResponse,
    UpdateExperimentResponse,
    UpdateExperimentSpanResponse,
)
from respan.types import BulkOperationResponse, DatasetLogCreateRequest

from respan_otel import RespanClient
from respan_otel.local import LocalRespan

KEY = "sk-contract"
WORKFLOW = [{"type": "completion", "config": {"model": "gpt-4o-mini"}}]
FILTERS = {"metadata__topic": {"operator": "eq", "value": ["billing"]}}
EXERCISED: set[str] = set()


def _operations(cls: type) -> set[str]:
    return {
        name
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_")
    }


@pytest.fixture(scope="module")
def local() -> Iterator[LocalRespan]:
    with LocalRespan(api_key=KEY) as server:
        yield server


@pytest.fixture(scope="module")
def official(local: LocalRespan) -> Iterator[OfficialClient]:
    with httpx.Client(timeout=30) as transport:
        yield OfficialClient(
            authorization=f"Bearer {KEY}", base_url=local.base_url, httpx_client=transport
        )


def _did(name: str) -> None:
    EXERCISED.add(name)


def test_every_dataset_operation_parses(official: OfficialClient) -> None:
    ds = official.datasets
    created = ds.create_dataset(
        name="contract",
        description="official client",
        is_empty=True,
        granularity="logs",
        initial_log_filters={"status_code": {"operator": "eq", "value": 200}},
    )
    _did("create_dataset")
    assert isinstance(created, CreateDatasetResponse)
    assert created.id
    dataset_id = created.id

    one = ds.create_dataset_log(
        dataset_id,
        input={"question": "refund?"},
        output={"answer": "yes"},
        expected_output="yes",
        metadata={"topic": "billing", "model": "gpt-4o"},
        metrics={"prompt_tokens": 10, "completion_tokens": 4, "cost": 0.01, "latency": 1.2},
    )
    _did("create_dataset_log")
    assert isinstance(one, CreateDatasetLogResponse)
    bulk = ds.bulk_create_dataset_logs(
        dataset_id,
        logs=[
            DatasetLogCreateRequest(input=f"q{i}", output=f"a{i}", metadata={"topic": "other"})
            for i in range(3)
        ],
    )
    _did("bulk_create_dataset_logs")
    assert isinstance(bulk, BulkOperationResponse)
    assert (bulk.success_count, bulk.error_count) == (3, 0)

    ds.update_dataset(dataset_id, name="contract-2", starred=True, tags=["tag-a"])
    _did("update_dataset")
    listed = ds.list_datasets(page=1, page_size=10, sort_by="-created_at")
    _did("list_datasets")
    assert isinstance(listed, ListDatasetsResponse)
    assert listed.results is not None
    assert listed.results[0].tags is not None
    assert listed.results[0].tags[0].id == "tag-a"
    retrieved = ds.retrieve_dataset(dataset_id)
    _did("retrieve_dataset")
    assert isinstance(retrieved, RetrieveDatasetResponse)
    assert retrieved.initial_log_filters is not None
    assert retrieved.initial_log_filters.status_code is not None
    assert retrieved.initial_log_filters.status_code.value == 200
    assert isinstance(ds.update_dataset(dataset_id, description="d"), UpdateDatasetResponse)

    page = ds.list_dataset_logs(dataset_id, page=1, page_size=2, filters=FILTERS)
    _did("list_dataset_logs")
    assert isinstance(page, ListDatasetLogsResponseCount)
    assert page.count == 1
    assert page.results[0].prompt_tokens == 10
    exported = ds.list_dataset_logs(dataset_id, is_exporting=True, export_format=".jsonl")
    assert isinstance(exported, ListDatasetLogsResponseMessage)

    got = ds.retrieve_dataset_log(dataset_id, one.unique_id)
    _did("retrieve_dataset_log")
    assert isinstance(got, RetrieveDatasetLogResponse)
    assert got.scores == []
    patched = ds.update_dataset_log(dataset_id, one.unique_id, output={"answer": "no"})
    _did("update_dataset_log")
    assert isinstance(patched, UpdateDatasetLogResponse)
    assert patched.output == {"answer": "no"}
    replaced = ds.replace_dataset_log(dataset_id, one.unique_id, input="only input")
    _did("replace_dataset_log")
    assert isinstance(replaced, ReplaceDatasetLogResponse)
    assert replaced.output is None
    with pytest.raises(ApiError) as refused:
        ds.replace_dataset_log(dataset_id, one.unique_id, output="no input")
    assert refused.value.status_code == 400

    summary = ds.summarize_dataset_logs_filtered(dataset_id, filters={})
    _did("summarize_dataset_logs_filtered")
    assert isinstance(summary, SummarizeDatasetLogsFilteredResponse)
    assert summary.number_of_requests == 4
    started = ds.import_dataset_logs(
        dataset_id,
        start_time=dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc),
        end_time=dt.datetime(2025, 2, 1, tzinfo=dt.timezone.utc),
        sampling_percentage=50,
    )
    _did("import_dataset_logs")
    assert isinstance(started, ImportDatasetLogsResponse)
    evals = ds.run_eval_on_dataset(dataset_id, evaluator_ids=["eval_quality"])
    _did("run_eval_on_dataset")
    assert isinstance(evals, RunEvalOnDatasetResponse)
    assert evals.created_tasks == []
    assert evals.errors is not None
    assert "eval_quality" in evals.errors
    runs = ds.list_dataset_eval_runs(dataset_id, page=1, page_size=10)
    _did("list_dataset_eval_runs")
    assert isinstance(runs, ListDatasetEvalRunsResponse)

    removed = ds.remove_dataset_logs(
        dataset_id, filters={"unique_id": {"operator": "eq", "value": [one.unique_id]}}
    )
    _did("remove_dataset_logs")
    assert isinstance(removed, RemoveDatasetLogsResponse)
    remaining = ds.list_dataset_logs(dataset_id)
    assert isinstance(remaining, ListDatasetLogsResponseCount)
    assert remaining.count == 3
    first = remaining.results[0].unique_id
    assert first is not None
    ds.delete_dataset_log(dataset_id, first)
    _did("delete_dataset_log")
    ds.delete_dataset(dataset_id)
    _did("delete_dataset")
    with pytest.raises(ApiError) as gone:
        ds.retrieve_dataset(dataset_id)
    assert gone.value.status_code == 404


def test_the_saved_logs_collection_through_the_official_client(official: OfficialClient) -> None:
    ds = official.datasets
    made = ds.create_dataset_log("_saved_logs", input="kept", output="yes")
    assert isinstance(
        ds.retrieve_dataset_log("_saved_logs", made.unique_id), RetrieveDatasetLogResponse
    )
    ds.update_dataset_log("_saved_logs", made.unique_id, output="changed")
    ds.delete_dataset_log("_saved_logs", made.unique_id)


def test_every_experiment_operation_parses(official: OfficialClient, local: LocalRespan) -> None:
    dataset = official.datasets.create_dataset(name="exp-contract", is_empty=True)
    assert dataset.id is not None
    official.datasets.bulk_create_dataset_logs(
        dataset.id,
        logs=[DatasetLogCreateRequest(input=f"q{i}", expected_output=f"a{i}") for i in range(3)],
    )
    ex = official.experiments
    created = ex.create_experiment(
        dataset_id=dataset.id, workflow=WORKFLOW, evaluator_ids=["exact"], name="contract run"
    )
    _did("create_experiment")
    assert isinstance(created, CreateExperimentResponse)
    assert created.status == "pending"
    with pytest.raises(ApiError) as no_config:
        ex.create_experiment(
            dataset_id=dataset.id, workflow=[{"type": "completion"}], evaluator_ids=["x"]
        )
    assert no_config.value.status_code == 400

    assert isinstance(ex.retrieve_experiment(created.id), RetrieveExperimentResponse)
    _did("retrieve_experiment")
    updated = ex.update_experiment(created.id, description="described")
    _did("update_experiment")
    assert isinstance(updated, UpdateExperimentResponse)
    replaced = ex.replace_experiment(
        created.id, dataset_id=dataset.id, workflow=WORKFLOW, evaluator_ids=["exact"]
    )
    _did("replace_experiment")
    assert isinstance(replaced, ReplaceExperimentResponse)
    everything = list(ex.list_experiments(page_size=1))
    _did("list_experiments")
    assert all(isinstance(e, ListExperimentsResponseResultsItem) for e in everything)
    counted = ex.filter_experiments_summary(filters={})
    _did("filter_experiments_summary")
    assert isinstance(counted, FilterExperimentsSummaryResponse)
    assert counted.total_count == len(everything)

    rows = list(ex.list_experiment_spans(created.id, page_size=2, preview_length=10))
    _did("list_experiment_spans")
    assert len(rows) == 3
    assert all(isinstance(r, ListExperimentSpansResponseResultsItem) for r in rows)
    resumed = ex.update_experiment_span(
        created.id, rows[0].id, input=rows[0].input, output="a0", metrics={"cost": 0.1}
    )
    _did("update_experiment_span")
    assert isinstance(resumed, UpdateExperimentSpanResponse)
    with RespanClient(KEY, local.base_url) as ours:  # scores are the local server's own
        ours.experiments.logs.update(
            created.id, rows[1].id, input=rows[1].input, output="x", scores={"exact": 0.5}
        )
    one = ex.retrieve_experiment_span(created.id, rows[1].id)
    _did("retrieve_experiment_span")
    assert isinstance(one, RetrieveExperimentSpanResponse)
    assert one.scores is not None
    assert one.scores["exact"].numerical_value == 0.5
    summary = ex.filter_experiment_spans_summary(created.id, filters={})
    _did("filter_experiment_spans_summary")
    assert isinstance(summary, FilterExperimentSpansSummaryResponse)
    assert summary.scores["exact"].avg_score == 0.5
    histogram = ex.filter_experiment_score_histogram(created.id, evaluator_id="exact", bins=5)
    _did("filter_experiment_score_histogram")
    assert isinstance(histogram, FilterExperimentScoreHistogramResponse)
    assert histogram.stats.total == 1
    ex.delete_experiment(created.id)
    _did("delete_experiment")


def test_no_operation_of_the_official_client_was_left_out() -> None:
    """Runs last in this file: the two clients' operations, all of them exercised above."""
    wanted = (_operations(DatasetsClient) | _operations(ExperimentsClient)) - {"with_raw_response"}
    assert wanted - EXERCISED == set()
