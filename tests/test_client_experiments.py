"""client.experiments: create/get/list locally, and the one-scoring-path rule."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from respan_otel.client._client import RespanClient
from respan_otel.client._errors import NotFoundError
from respan_otel.local import LocalRespan
from tests.faulty_server import FaultyServer, json_reply

WORKFLOW = [{"type": "completion", "config": {"model": "gpt-4o-mini", "temperature": 0.2}}]


@pytest.fixture(scope="module")
def local() -> Iterator[LocalRespan]:
    with LocalRespan(api_key="sk-local-experiments") as server:
        yield server


@pytest.fixture
def client(local: LocalRespan) -> Iterator[RespanClient]:
    with RespanClient(local.api_key, local.base_url) as c:
        yield c


@pytest.fixture
def server() -> Iterator[FaultyServer]:
    with FaultyServer() as srv:
        yield srv


@pytest.fixture
def wire(server: FaultyServer) -> Iterator[RespanClient]:
    with RespanClient("sk-wire", server.url, max_retries=0) as c:
        yield c


def test_create_get_list(client: RespanClient) -> None:
    dataset = client.datasets.create(name="exp-data")
    client.datasets.logs.create(dataset.id, {"q": "hi"}, {"a": "hello"})
    experiment = client.experiments.create(
        dataset_id=dataset.id,
        workflow=WORKFLOW,
        evaluator_ids=["eval_quality"],
        name="gpt-4o-mini quality run",
        description="local run",
        concurrency=15,
        batch_size=100,
        enable_tracing=True,
    )
    assert experiment.id
    assert experiment.status == "pending", "nothing runs locally"
    assert experiment.dataset_id == dataset.id
    assert experiment.evaluator_ids == ["eval_quality"]
    assert experiment.workflow == WORKFLOW
    assert experiment.name == "gpt-4o-mini quality run"

    fetched = client.experiments.get(experiment.id)
    assert (fetched.id, fetched.name, fetched.status) == (experiment.id, experiment.name, "pending")
    assert experiment.id in {e.id for e in client.experiments.list()}


def test_create_with_evaluator_workflows(client: RespanClient) -> None:
    dataset = client.datasets.create(name="exp-wf")
    experiment = client.experiments.create(
        dataset_id=dataset.id, workflow=WORKFLOW, evaluator_workflow_ids=["wfv_1"]
    )
    assert experiment.evaluator_workflow_ids == ["wfv_1"]


def test_unknown_experiment(client: RespanClient) -> None:
    with pytest.raises(NotFoundError):
        client.experiments.get("00000000-0000-4000-8000-000000000000")


def test_list_pages(client: RespanClient) -> None:
    dataset = client.datasets.create(name="exp-pages")
    made = {
        client.experiments.create(
            dataset_id=dataset.id, workflow=WORKFLOW, evaluator_ids=["e"], name=f"run {i}"
        ).id
        for i in range(5)
    }
    assert made <= {e.id for e in client.experiments.list(page_size=2)}


def test_create_body_on_the_wire(server: FaultyServer, wire: RespanClient) -> None:
    server.enqueue(json_reply(201, id="exp_1", status="pending", progress=0))
    experiment = wire.experiments.create(
        dataset_id="ds_1",
        workflow=WORKFLOW,
        evaluator_slugs=["quality-assessment"],
        span_workflow_name="wf",
        generation_method="auto",
    )
    request = server.requests[0]
    assert (request.method, request.route) == ("POST", "/api/v2/experiments/")
    assert request.json() == {
        "dataset_id": "ds_1",
        "workflow": WORKFLOW,
        "evaluator_slugs": ["quality-assessment"],
        "span_workflow_name": "wf",
        "generation_method": "auto",
    }
    assert experiment.progress == 0.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one scoring path.*none was given"),
        (
            {"evaluator_ids": ["a"], "evaluator_workflow_ids": ["w"]},
            "exactly one scoring path.*not both",
        ),
        (
            {"evaluator_slugs": ["a"], "evaluator_workflow_ids": ["w"]},
            "exactly one scoring path.*not both",
        ),
        ({"evaluator_ids": []}, "evaluator_ids must be a non-empty list"),
        ({"evaluator_ids": ["a"], "workflow": []}, "workflow must be a non-empty list"),
        ({"evaluator_ids": ["a"], "workflow": ["completion"]}, "workflow must be"),
        ({"evaluator_ids": ["a"], "concurrency": 0}, "concurrency must be a positive integer"),
        ({"evaluator_ids": ["a"], "dataset_id": ""}, "dataset_id must be a non-empty string"),
    ],
)
def test_bad_arguments_fail_before_any_request(
    server: FaultyServer, wire: RespanClient, kwargs: dict[str, Any], message: str
) -> None:
    arguments: dict[str, Any] = {"dataset_id": "ds", "workflow": WORKFLOW}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        wire.experiments.create(**arguments)
    assert server.requests == []
