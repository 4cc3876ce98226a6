"""Concurrent writers against the local server give exact counts, in memory and on disk."""

from __future__ import annotations

import http.client
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from respan_otel.local import LocalRespan

KEY = "concurrency-key"
THREADS = 16
SINGLES_PER_THREAD = 50
BULK_REQUESTS = 8
BULK_SIZE = 100


@pytest.mark.parametrize(
    ("on_disk", "threads", "singles"),
    [(True, THREADS, SINGLES_PER_THREAD), (False, 8, 20)],
    ids=["file", "memory"],
)
def test_concurrent_writers_exact_count(
    tmp_path: Path, on_disk: bool, threads: int, singles: int
) -> None:
    db = tmp_path / "c.db" if on_disk else ":memory:"
    with LocalRespan(api_key=KEY, db=db) as server:
        api = server.base_url + "/api"
        auth = {"Authorization": f"Bearer {KEY}"}
        ds = requests.post(f"{api}/datasets/", json={"name": "c"}, headers=auth, timeout=10)
        ds_id = ds.json()["id"]
        start = threading.Barrier(threads)

        def create_singles(worker: int) -> list[str]:
            # http.client keeps the clients light, so the server is what gets exercised
            ids = []
            host, port = server.base_url.removeprefix("http://").split(":")
            conn = http.client.HTTPConnection(host, int(port), timeout=30)
            headers = {**auth, "Content-Type": "application/json"}
            try:
                start.wait()
                for i in range(singles):
                    body = json.dumps({"input": {"worker": worker, "i": i}})
                    conn.request("POST", f"/api/datasets/{ds_id}/logs/", body, headers)
                    response = conn.getresponse()
                    payload = json.loads(response.read())
                    assert response.status == 201, payload
                    ids.append(payload["unique_id"])
            finally:
                conn.close()
            return ids

        def bulk(batch: int) -> int:
            logs = [{"input": {"batch": batch, "i": i}} for i in range(BULK_SIZE)]
            r = requests.post(
                f"{api}/datasets/{ds_id}/logs/bulk/", json={"logs": logs}, headers=auth, timeout=30
            )
            assert r.status_code == 201, r.text
            return int(r.json()["success_count"])

        with ThreadPoolExecutor(threads + BULK_REQUESTS) as pool:
            single_futures = [pool.submit(create_singles, w) for w in range(threads)]
            bulk_futures = [pool.submit(bulk, b) for b in range(BULK_REQUESTS)]
            single_ids = [uid for fut in single_futures for uid in fut.result()]
            bulk_total = sum(fut.result() for fut in bulk_futures)

        expected = threads * singles + BULK_REQUESTS * BULK_SIZE
        assert len(set(single_ids)) == threads * singles
        assert bulk_total == BULK_REQUESTS * BULK_SIZE
        dataset = requests.get(f"{api}/datasets/{ds_id}/", headers=auth, timeout=10).json()
        assert dataset["log_count"] == expected
        page = requests.get(
            f"{api}/datasets/{ds_id}/logs/list/?page_size=1", headers=auth, timeout=10
        ).json()
        assert page["count"] == expected
        one_worker = requests.post(
            f"{api}/datasets/{ds_id}/logs/list/",
            json={"filters": {"input__worker": {"operator": "", "value": 3}}},
            headers=auth,
            timeout=10,
        ).json()
        assert one_worker["count"] == singles


def test_concurrent_patches_of_one_log_are_not_lost() -> None:
    with LocalRespan(api_key=KEY) as server, requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {KEY}"
        api = server.base_url + "/api"
        ds = session.post(f"{api}/datasets/", json={"name": "p"}).json()["id"]
        uid = session.post(f"{api}/datasets/{ds}/logs/", json={"input": 0}).json()["unique_id"]
        url = f"{api}/datasets/{ds}/logs/{uid}/"

        def patch(field: int) -> int:
            r = requests.patch(
                url,
                json={f"field_{field}": field},
                headers={"Authorization": f"Bearer {KEY}"},
                timeout=10,
            )
            return r.status_code

        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(patch, range(40))) == {200}
        log = session.get(url).json()
        assert all(log[f"field_{i}"] == i for i in range(40))
