"""Fixtures for the gateway: a local Respan server, a gateway in front of it, stock OTLP."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from respan_otel import RespanClient, RespanDatasetExporter, span
from respan_otel.client._types import Dataset
from respan_otel.gateway import Gateway
from respan_otel.local import LocalRespan
from respan_otel.local._org_limit import OrgRateLimiter

TOKEN = "client-token-for-tests"


@pytest.fixture
def local() -> Iterator[LocalRespan]:
    with LocalRespan() as server:
        yield server


@pytest.fixture
def client(local: LocalRespan) -> Iterator[RespanClient]:
    with RespanClient(api_key=local.api_key, base_url=local.base_url) as respan:
        yield respan


@pytest.fixture
def dataset(client: RespanClient) -> Dataset:
    return client.datasets.create(name="through-the-gateway", is_empty=True)


@contextlib.contextmanager
def org_limited(limit: int, name: str) -> Iterator[tuple[LocalRespan, OrgRateLimiter, Dataset]]:
    """A local server holding every key to one org limit of ``limit`` bulk requests a
    minute, its limiter, and an empty dataset ``name`` (made outside the limit)."""
    with LocalRespan(org_rate_limit_per_minute=limit) as server:
        limiter = server.limiter
        assert isinstance(limiter, OrgRateLimiter)
        with RespanClient(api_key=server.api_key, base_url=server.base_url) as respan:
            made = respan.datasets.create(name=name, is_empty=True)
        yield server, limiter, made


def gateway_exporter(
    local: LocalRespan, dataset_id: str, directory: Path, **options: object
) -> RespanDatasetExporter:
    """The one exporter a gateway holds, into the local server, not paced (loopback)."""
    options.setdefault("requests_per_minute", 0)
    return RespanDatasetExporter(
        api_key=local.api_key,
        base_url=local.base_url,
        dataset_id=dataset_id,
        spool_dir=directory / "spool",
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
def make_gateway(
    local: LocalRespan, dataset: Dataset, tmp_path: Path
) -> Iterator[Callable[..., Gateway]]:
    """Start gateways on free ports (stopped afterwards); options go to ``Gateway``."""
    started: list[Gateway] = []

    def make(**options: object) -> Gateway:
        directory = options.pop("directory", tmp_path / "gateway")
        assert isinstance(directory, Path)
        exporter = options.pop("exporter", None) or gateway_exporter(local, dataset.id, directory)
        options.setdefault("linger", 0.05)
        gateway = Gateway(
            directory=directory,
            tokens=[TOKEN],
            exporter=exporter,  # type: ignore[arg-type]
            port=0,
            **options,  # type: ignore[arg-type]
        )
        started.append(gateway.start())
        return gateway

    yield make
    for gateway in started:
        gateway.stop(timeout=5)


def otlp_to(url: str, *, token: str = TOKEN, gzip: bool = False) -> OTLPSpanExporter:
    """The stock OTLP/HTTP span exporter, pointed at the gateway at ``url``."""
    return OTLPSpanExporter(
        endpoint=f"{url}/v1/traces",
        headers={"authorization": f"Bearer {token}"},
        compression=Compression.Gzip if gzip else Compression.NoCompression,
        timeout=10,
    )


def send_spans(url: str, exporter: InMemorySpanExporter, count: int, *, first: int = 0) -> None:
    """Make ``count`` spans (``input={"i": first..}``) and send them to the gateway at
    ``url`` in one OTLP request, which it must acknowledge."""
    exporter.clear()
    for i in range(first, first + count):
        with span("item", input={"i": i}):
            pass
    sender = otlp_to(url)
    assert sender.export(exporter.get_finished_spans()) is SpanExportResult.SUCCESS
    sender.shutdown()


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``condition`` until true; fail the test after ``timeout`` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)
