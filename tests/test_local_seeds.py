"""The seed API pages' own example requests, sent as they are to the local server.

Each body below is the JSON text of a seed page's example (the cURL ``-d`` body, or the
page's request example), sent byte for byte with the page's headers; only the host and
the ``{dataset_id}`` path placeholder change. The answers must have the documented shapes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator

import pytest
import requests

from respan_otel.local import LocalRespan

KEY = "sk_live_xxxxx"
HEADERS = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}

# seeds/001: Create a dataset (cURL body)
CREATE_DATASET = """{
"name": "Support Conversations - July",
"description": "Sampled support chats for July",
"sampling": 40,
"start_time": "2025-07-01T00:00:00Z",
"end_time": "2025-07-31T23:59:59Z",
"initial_log_filters": {
"status_code": {
"operator": "eq",
"value": 200
}
}
}"""

# seeds/000: Create dataset span (the page's request example)
CREATE_LOG_EXAMPLE = """{
  "input": {
    "customer_id": "cust_12345",
    "query_type": "billing",
    "message": "I need help with my subscription",
    "priority": "high",
    "user_context": {
      "plan": "premium",
      "account_age_days": 365
    }
  },
  "output": {
    "response": "I'd be happy to help with your subscription. Let me look that up for you.",
    "agent_id": "agent_789",
    "resolution_time_seconds": 120,
    "actions_taken": ["account_lookup", "plan_verification"],
    "satisfaction_score": 4.5,
    "follow_up_required": true
  },
  "metadata": {
    "model": "gpt-4",
    "log_type": "chat",
    "session_id": "sess_abc123",
    "custom_identifier": "support-interaction-v2"
  },
  "metrics": {
    "prompt_tokens": 25,
    "completion_tokens": 18,
    "total_tokens": 43,
    "cost": 0.002,
    "latency": 1.8
  }
}"""

# seeds/000: Create dataset span (the cURL body, after the shell's quoting: I'd)
CREATE_LOG_CURL = """{
    "input": {
      "customer_id": "cust_12345",
      "query_type": "billing",
      "message": "I need help with my subscription"
    },
    "output": {
      "response": "I'd be happy to help with your subscription.",
      "agent_id": "agent_789",
      "satisfaction_score": 4.5
    },
    "metadata": {
      "model": "gpt-4",
      "log_type": "chat"
    },
    "metrics": {
      "prompt_tokens": 25,
      "completion_tokens": 18,
      "cost": 0.002,
      "latency": 1.8
    }
  }"""

# seeds/002: List dataset logs (cURL body)
LIST_LOGS = """{
"filters": {
"status_code": {
"operator": "eq",
"value": 200
}
},
"is_exporting": false
}"""

# seeds/004: Create an experiment (cURL body)
CREATE_EXPERIMENT = """{
"dataset_id": "ds_support_qa_2024",
"workflow": [
{
"type": "completion",
"config": {
"model": "gpt-4o-mini",
"temperature": 0.2,
"max_tokens": 256
}
}
],
"evaluator_ids": [
"eval_quality"
],
"name": "gpt-4o-mini quality run",
"concurrency": 15
}"""


@pytest.fixture
def base() -> Iterator[str]:
    with LocalRespan(api_key=KEY) as server:
        yield server.base_url


def post(url: str, body: str) -> requests.Response:
    return requests.post(url, data=body.encode("utf-8"), headers=HEADERS, timeout=10)


def create_dataset(base: str) -> dict[str, object]:
    r = post(f"{base}/api/datasets/", CREATE_DATASET)
    assert r.status_code == 201, r.text
    body: dict[str, object] = r.json()
    return body


def test_create_dataset_seed(base: str) -> None:
    ds = create_dataset(base)
    for key in (
        "id",
        "name",
        "description",
        "type",
        "status",
        "initial_log_filters",
        "created_at",
        "updated_at",
    ):
        assert key in ds, key
    assert uuid.UUID(str(ds["id"]))
    assert ds["name"] == "Support Conversations - July"
    assert ds["description"] == "Sampled support chats for July"
    assert ds["type"] == "sampling"
    assert ds["status"] in ("initializing", "ready", "failed", "loading")
    assert ds["initial_log_filters"] == {"status_code": {"operator": "eq", "value": 200}}


@pytest.mark.parametrize("body", [CREATE_LOG_EXAMPLE, CREATE_LOG_CURL])
def test_create_dataset_log_seed(base: str, body: str) -> None:
    ds = create_dataset(base)["id"]
    r = post(f"{base}/api/datasets/{ds}/logs/", body)
    assert r.status_code == 201
    created = r.json()
    assert created["message"] == "Dataset log created successfully"
    assert len(created["unique_id"]) == 32
    log = requests.get(
        f"{base}/api/datasets/{ds}/logs/{created['unique_id']}/", headers=HEADERS, timeout=10
    ).json()
    sent = json.loads(body)
    # the fields of the page's "log_data" answer
    assert log["unique_id"] == created["unique_id"]
    assert log["input"] == sent["input"]
    assert log["output"] == sent["output"]
    assert log["model"] == "gpt-4"
    assert log["log_type"] == "chat"
    assert log["prompt_tokens"] == 25
    assert log["completion_tokens"] == 18
    assert log["cost"] == 0.002
    assert log["latency"] == 1.8
    assert log["dataset_id"] == ds
    assert log["status"] == "success"
    assert log["status_code"] == 200
    if "session_id" in sent["metadata"]:
        assert log["session_id"] == "sess_abc123"
        assert log["custom_identifier"] == "support-interaction-v2"
        assert log["total_request_tokens"] == 43


def test_list_dataset_logs_seed(base: str) -> None:
    ds = create_dataset(base)["id"]
    post(f"{base}/api/datasets/{ds}/logs/", CREATE_LOG_EXAMPLE)
    post(f"{base}/api/datasets/{ds}/logs/", CREATE_LOG_CURL)
    r = post(f"{base}/api/datasets/{ds}/logs/list/", LIST_LOGS)
    assert r.status_code == 200
    page = r.json()
    for key in (
        "count",
        "next",
        "previous",
        "results",
        "total_count",
        "current_filters",
        "filters_data",
        "filter_options",
    ):
        assert key in page, key
    assert page["count"] == page["total_count"] == 2
    assert page["next"] is None
    assert page["previous"] is None
    for log in page["results"]:
        for key in (
            "id",
            "unique_id",
            "organization_id",
            "environment",
            "timestamp",
            "start_time",
            "prompt_tokens",
            "completion_tokens",
            "total_request_tokens",
            "cost",
            "model",
            "latency",
            "status_code",
            "status",
            "input",
            "output",
            "dataset_id",
            "scores",
            "metadata",
            "custom_identifier",
            "log_type",
        ):
            assert key in log, key
        assert log["status_code"] == 200
        assert isinstance(log["input"], dict)


def test_retrieve_dataset_log_seed(base: str) -> None:
    ds = create_dataset(base)["id"]
    uid = post(f"{base}/api/datasets/{ds}/logs/", CREATE_LOG_EXAMPLE).json()["unique_id"]
    r = requests.get(f"{base}/api/datasets/{ds}/logs/{uid}/", headers=HEADERS, timeout=10)
    assert r.status_code == 200
    log = r.json()
    for key in (
        "id",
        "organization_id",
        "environment",
        "timestamp",
        "start_time",
        "custom_identifier",
        "log_type",
        "prompt_tokens",
        "completion_tokens",
        "total_request_tokens",
        "cost",
        "model",
        "latency",
        "status_code",
        "status",
        "metadata",
        "prompt",
        "completion",
        "dataset_id",
    ):
        assert key in log, key
    missing = requests.get(
        f"{base}/api/datasets/{ds}/logs/{uuid.uuid4().hex}/", headers=HEADERS, timeout=10
    )
    assert missing.status_code == 404
    unauthorized = requests.get(f"{base}/api/datasets/{ds}/logs/{uid}/", timeout=10)
    assert unauthorized.status_code == 401


def test_create_experiment_seed(base: str) -> None:
    # the seed names a dataset of its own account; here it does not exist yet
    r = post(f"{base}/api/v2/experiments/", CREATE_EXPERIMENT)
    assert r.status_code == 404
    assert r.json() == {"detail": "Dataset not found"}
    ds = str(create_dataset(base)["id"])
    r = post(f"{base}/api/v2/experiments/", CREATE_EXPERIMENT.replace("ds_support_qa_2024", ds))
    assert r.status_code == 201
    exp = r.json()
    assert exp["dataset_id"] == ds
    expected_keys = {
        "id",
        "name",
        "status",
        "created_at",
        "description",
        "dataset",
        "dataset_id",
        "dataset_name",
        "workflow_count",
        "progress",
        "started_at",
        "completed_at",
        "tags",
        "workflow",
        "evaluator_ids",
        "evaluator_slugs",
        "evaluator_workflow_ids",
        "batch_size",
        "concurrency",
        "enable_tracing",
        "error_message",
    }
    assert expected_keys <= set(exp)
    assert exp["name"] == "gpt-4o-mini quality run"
    assert exp["status"] == "pending"
    assert exp["dataset"] == exp["dataset_id"] == ds
    assert exp["workflow_count"] == 1
    assert exp["progress"] == 0
    assert exp["workflow"] == json.loads(CREATE_EXPERIMENT)["workflow"]
    assert exp["evaluator_ids"] == ["eval_quality"]
    assert exp["batch_size"] == 100
    assert exp["concurrency"] == 15
    assert exp["enable_tracing"] is True
    got = requests.get(f"{base}/api/v2/experiments/{exp['id']}/", headers=HEADERS, timeout=10)
    assert got.json() == exp


CURL = shutil.which("curl")


@pytest.mark.skipif(CURL is None, reason="curl is not installed")
def test_seed_curl_commands(base: str) -> None:
    """The seed pages' cURL commands themselves, pointed at the local server."""

    def curl(method: str, path: str, body: str | None = None) -> tuple[int, object]:
        argv = [str(CURL), "-sS", "-X", method, f"{base}{path}", "-w", "\n%{http_code}"]
        argv += ["-H", f"Authorization: Bearer {KEY}", "-H", "Content-Type: application/json"]
        if body is not None:
            argv += ["-d", body]
        out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=30).stdout
        text, _, code = out.rpartition("\n")
        return int(code), json.loads(text) if text else None

    status, ds = curl("POST", "/api/datasets/", CREATE_DATASET)
    assert status == 201
    assert isinstance(ds, dict)
    status, created = curl("POST", f"/api/datasets/{ds['id']}/logs/", CREATE_LOG_CURL)
    assert status == 201
    assert isinstance(created, dict)
    status, page = curl("POST", f"/api/datasets/{ds['id']}/logs/list/", LIST_LOGS)
    assert status == 200
    assert isinstance(page, dict)
    assert page["count"] == 1
    status, log = curl("GET", f"/api/datasets/{ds['id']}/logs/{created['unique_id']}/")
    assert status == 200
    assert isinstance(log, dict)
    assert log["model"] == "gpt-4"
    status, exp = curl(
        "POST", "/api/v2/experiments/", CREATE_EXPERIMENT.replace("ds_support_qa_2024", ds["id"])
    )
    assert status == 201
    assert isinstance(exp, dict)
    assert exp["status"] == "pending"
    big = json.dumps({"logs": [{"input": "x" * 100, "output": i} for i in range(300)]})
    status, bulk = curl("POST", f"/api/datasets/{ds['id']}/logs/bulk/", big)
    assert status == 201
    assert bulk == {"success_count": 300, "error_count": 0, "errors": []}
