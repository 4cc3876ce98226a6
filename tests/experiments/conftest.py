"""A local Respan-compatible server over HTTP for the experiment tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from respan_otel.client._client import RespanClient
from respan_otel.local import LocalRespan


@pytest.fixture(scope="module")
def local() -> Iterator[LocalRespan]:
    with LocalRespan(api_key="sk-local-experiments") as server:
        yield server


@pytest.fixture
def client(local: LocalRespan) -> Iterator[RespanClient]:
    with RespanClient(local.api_key, local.base_url) as c:
        yield c
