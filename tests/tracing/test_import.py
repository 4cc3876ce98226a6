"""``import respan_otel`` stays light, and every public name still imports."""

from __future__ import annotations

import subprocess
import sys

import respan_otel


def test_import_does_not_load_http_asyncio_or_the_sdk() -> None:
    # the tracing core needs only the OpenTelemetry API; the rest loads on first use
    heavy = ("requests", "urllib3", "asyncio", "opentelemetry.sdk")
    code = f"import sys, respan_otel\nprint(','.join(m for m in {heavy!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_every_public_name_imports() -> None:
    for name in respan_otel.__all__:
        assert getattr(respan_otel, name) is not None
    namespace: dict[str, object] = {}
    exec(f"from respan_otel import {', '.join(respan_otel.__all__)}", namespace)
    assert set(respan_otel.__all__) <= set(namespace)
    assert set(respan_otel.__all__) <= set(dir(respan_otel))
