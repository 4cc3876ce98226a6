"""The local server's organisation-wide limit: bulk requests only, one window, metered."""

from __future__ import annotations

import time

import requests

from respan_otel import RespanClient
from respan_otel.local import LocalRespan
from respan_otel.local._org_limit import OrgRateLimiter


def _bulk(server: LocalRespan, dataset_id: str, logs: list[dict]) -> requests.Response:
    return requests.post(
        f"{server.base_url}/api/datasets/{dataset_id}/logs/bulk/",
        json={"logs": logs},
        headers={"Authorization": f"Bearer {server.api_key}"},
        timeout=10,
    )


def test_org_limit_counts_bulk_requests_only_and_meters_what_it_let_through():
    with LocalRespan(org_rate_limit_per_minute=2) as server:
        with RespanClient(api_key=server.api_key, base_url=server.base_url) as client:
            dataset = client.datasets.create(name="org", is_empty=True)
            # reads and dataset calls are limited separately by Respan: not counted here
            for _ in range(5):
                client.datasets.get(dataset.id)
        sent = time.time() - 2.0
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sent)) + ".000000Z"
        logs = [{"input": {"i": i}, "output": "ok", "timestamp": stamp} for i in range(3)]
        assert _bulk(server, dataset.id, logs).status_code == 201
        assert _bulk(server, dataset.id, logs[:1]).status_code == 201
        refused = _bulk(server, dataset.id, logs)
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) >= 1
        assert refused.json()["detail"] == "Rate limit exceeded"
        limiter = server.limiter
        assert isinstance(limiter, OrgRateLimiter)
        assert (limiter.allowed, limiter.refused) == (2, 1)
        assert [entry.logs for entry in limiter.accepted] == [3, 1]
        first = limiter.accepted[0]
        assert abs(first.at - time.time()) < 30
        assert len(first.ages) == 3
        assert all(1.0 < age < 30.0 for age in first.ages)
