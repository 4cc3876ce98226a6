"""Pass-through modes and import cost, each checked in a fresh interpreter."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap


def run(code: str, **env: str) -> str:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "RESPAN_"))}
    environment.update(env)
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


PROBE = textwrap.dedent(
    """
    import asyncio
    from respan_otel import trace, span

    calls = []

    class Probe:
        def __repr__(self):
            calls.append("repr")
            return "probe"

    @trace
    def f(p):
        return p

    @trace
    async def g(p):
        return None  # asyncio itself reprs a task's result, so hand back nothing

    @trace
    def gen(p):
        yield p

    probe = Probe()
    assert f(probe) is probe
    assert asyncio.run(g(probe)) is None
    assert list(gen(probe)) == [probe]
    with span("block", input=probe) as s:
        s.set_output(probe)
    """
)


def test_without_any_provider_nothing_is_serialized():
    out = run(PROBE + "\nprint(len(calls))\n")
    assert out == "0"


def test_otel_sdk_disabled_makes_everything_a_pass_through():
    code = (
        textwrap.dedent(
            """
    from opentelemetry import trace as t
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    t.set_tracer_provider(provider)
    """
        )
        + PROBE
        + "\nprint(len(calls), len(exporter.get_finished_spans()))\n"
    )
    assert run(code, OTEL_SDK_DISABLED="true") == "0 0"
    assert run(code) != "0 0", "the probe must record when tracing is on"


def test_import_starts_no_thread_and_sets_no_provider():
    out = run(
        """
        import threading
        before = threading.active_count()
        import respan_otel
        from opentelemetry import trace
        print(threading.active_count() - before, type(trace.get_tracer_provider()).__name__)
        """
    )
    assert out == "0 ProxyTracerProvider"


def test_import_loads_no_http_client_thread_pool_or_hashing():
    """``import respan_otel`` stays cheap: the HTTP client, asyncio, the thread pool
    (``ContextThreadPoolExecutor``) and OpenSSL (``hashlib``, for the spool's folder
    name) load only when used. (Decorating loads wrapt, which imports asyncio.)"""
    out = run(
        """
        import sys
        import respan_otel

        heavy = ("requests", "urllib3", "asyncio", "concurrent.futures", "hashlib", "queue")
        print(sorted(m for m in heavy if m in sys.modules))
        print(respan_otel.ContextThreadPoolExecutor.__name__, respan_otel.wrap_context(len)("ab"))
        """
    )
    assert out == "[]\nContextThreadPoolExecutor 2"


def test_bad_capture_setting_is_reported_once_and_defaults_apply():
    out = run(
        """
        import logging
        logging.basicConfig(level=logging.WARNING, format="%(message)s")
        from respan_otel._settings import capture_settings
        print(capture_settings().capture_content)
        print(capture_settings().capture_content)
        """,
        RESPAN_CAPTURE_CONTENT="maybe",
    )
    assert out == "True\nTrue"


def test_disabled_at_decoration_returns_the_function_itself():
    out = run(
        """
        from respan_otel import trace

        def f(x):
            return x

        print(trace(f) is f, trace(name="n")(f) is f)
        """,
        OTEL_SDK_DISABLED="true",
    )
    assert out == "True True"
