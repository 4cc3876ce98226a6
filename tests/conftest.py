"""Shared fixtures: one real SDK provider with an in-memory exporter for the whole run.

The global provider can be set only once per process, so it is set here, at session
start; each test gets the exporter emptied. An autouse check fails any test that leaves
a span current, which is how context leaks show up.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from respan_otel import PropagationSpanProcessor
from respan_otel._settings import set_capture_settings
from respan_otel._tracing._handle import reset_tracer_cache
from respan_otel.testing import router_for

# The spool is on by default, in the per-user cache: no test may write there. Every test
# gets a spool directory of its own (and tests of the default place set XDG_CACHE_HOME).
_SPOOL_ROOT = Path(tempfile.mkdtemp(prefix="respan-otel-test-spool-"))
os.environ["RESPAN_SPOOL_DIR"] = str(_SPOOL_ROOT / "session")
# child processes that drop RESPAN_* variables land under here, not in ~/.cache
os.environ["XDG_CACHE_HOME"] = str(_SPOOL_ROOT / "xdg-cache")

_EXPORTER = InMemorySpanExporter()
_PROVIDER = TracerProvider()
_PROVIDER.add_span_processor(PropagationSpanProcessor())
_PROVIDER.add_span_processor(SimpleSpanProcessor(_EXPORTER))
trace.set_tracer_provider(_PROVIDER)
_ROUTER = router_for(_PROVIDER)


@pytest.fixture(autouse=True)
def _isolation(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Fresh exporter, settings and spool directory per test; no span may stay current
    afterwards."""
    monkeypatch.setenv("RESPAN_SPOOL_DIR", str(tmp_path / "spool"))
    _EXPORTER.clear()
    set_capture_settings(None)
    reset_tracer_cache()
    assert trace.get_current_span() is trace.INVALID_SPAN, "a span leaked into this test"
    yield
    assert trace.get_current_span() is trace.INVALID_SPAN, "the test left a span current"
    set_capture_settings(None)
    reset_tracer_cache()


@pytest.fixture
def route_spans() -> Iterator[Callable[[SpanProcessor], None]]:
    """Send this test's finished spans to extra processors as well (removed afterwards)."""
    added: list[SpanProcessor] = []

    def add(processor: SpanProcessor) -> None:
        added.append(processor)
        _ROUTER.add(processor)

    yield add
    for processor in added:
        _ROUTER.remove(processor)


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    """The in-memory exporter every finished span reaches."""
    return _EXPORTER


@pytest.fixture
def provider() -> TracerProvider:
    """The real SDK provider installed for the test session."""
    return _PROVIDER


@pytest.fixture
def tracer() -> trace.Tracer:
    """A plain OpenTelemetry tracer, standing in for another instrumentation."""
    return _PROVIDER.get_tracer("tests.foreign")


def by_name(spans: tuple[ReadableSpan, ...] | list[ReadableSpan], name: str) -> ReadableSpan:
    """The one finished span called ``name``."""
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, f"expected one span named {name!r}, got {[s.name for s in spans]}"
    return found[0]


def log_problems(records: list[logging.LogRecord]) -> list[str]:
    """ERROR records (OTel's "Failed to detach context" among them) and internal errors."""
    return [
        f"{r.name}: {r.getMessage()}"
        for r in records
        if r.levelno >= logging.ERROR
        or (r.name.startswith("respan_otel") and "internal error" in r.getMessage())
    ]


@pytest.fixture
def no_context_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fails the test on any ERROR record (OTel's "Failed to detach context" among them)
    or respan_otel internal error; use with ``pytest.mark.usefixtures``."""
    caplog.set_level(logging.DEBUG, logger="opentelemetry.context")
    caplog.set_level(logging.DEBUG, logger="respan_otel")
    yield
    assert log_problems(caplog.records) == []


@pytest.fixture
def unwritable_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The default spool's place is not writable (serverless: a read-only home); the
    temp directory is, and is returned. ``RESPAN_SPOOL_DIR`` is unset."""
    blocked = tmp_path / "cache"
    blocked.write_text("a file where the cache directory should be")
    monkeypatch.delenv("RESPAN_SPOOL_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    return temp
