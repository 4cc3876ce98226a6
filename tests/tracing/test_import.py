"""``import respan_otel`` stays light, and every public name still imports."""

from __future__ import annotations

import subprocess
import sys

import respan_otel


def test_import_does_not_load_http_or_asyncio() -> None:
    code = (
        "import sys, respan_otel\n"
        "print(','.join(m for m in ('requests', 'urllib3', 'asyncio') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_every_public_name_imports() -> None:
    for name in respan_otel.__all__:
        assert getattr(respan_otel, name) is not None
    namespace: dict[str, object] = {}
    exec(f"from respan_otel import {', '.join(respan_otel.__all__)}", namespace)
    assert set(respan_otel.__all__) <= set(namespace)
    assert set(respan_otel.__all__) <= set(dir(respan_otel))
