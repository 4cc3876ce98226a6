"""Reading a dataset back: every log of a large dataset out of the local server.

    .venv/bin/python benchmarks/reading.py '{"logs": 30000}'     # one JSON line
    .venv/bin/python benchmarks/reading.py --section 30000       # the report's section

A worker of ``run.py`` (section 6 of ``docs/benchmarks.md``). One LocalRespan on a file
database holds ``logs`` logs shaped like the exporter's (about 1 KB each); each way of
reading them all is timed once, in this order:

* ``cli``: ``respan-otel logs export DATASET -o FILE`` in a fresh process, what people run;
* ``export``: ``client.datasets.logs.export()``, the server's own export in one request;
* ``pages``: the page-by-page path other servers get (100 a request, newest first);
* ``before``: the pages in the server's default order (``unique_id``), as ``export()``
  walked them before it used the server's export; only the first ``baseline_pages`` are
  read, and the whole is extrapolated from them (each page sorts the whole dataset).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from respan_otel import RespanClient
from respan_otel.local import LocalRespan

KEY = "sk-bench-reading"


def _log(i: int) -> dict[str, Any]:
    moment = f"2026-01-01T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}.{i % 1000:03d}Z"
    return {
        "input": {"messages": [{"role": "user", "content": f"How long does refund {i} take?"}]},
        "output": {"role": "assistant", "content": "Refunds are issued within 14 days. " * 8},
        "metadata": {
            "model": "gpt-4o-mini",
            "log_type": "llm",
            "span_name": "generate",
            "trace_id": f"{i:032x}",
            "span_id": f"{i:016x}",
            "service_name": "support-agent",
            "customer_identifier": f"user-{i % 500}",
        },
        "metrics": {"prompt_tokens": 42, "completion_tokens": 96, "cost": 0.00021, "latency": 0.8},
        "start_time": moment,
        "timestamp": moment,
    }


def measure(logs: int, baseline_pages: int = 5) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "bench.db"
        with (
            LocalRespan(api_key=KEY, db=db) as server,
            RespanClient(api_key=KEY, base_url=server.base_url, timeout=600) as client,
        ):
            dataset = client.datasets.create(name="reading bench").id
            for start in range(0, logs, 500):
                client.datasets.logs.bulk_create(
                    dataset, [_log(i) for i in range(start, min(logs, start + 500))]
                )
            size = db.stat().st_size

            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "respan_otel.cli", "logs", "export", "reading bench",
                 "-o", str(Path(folder) / "out.jsonl"), "--no-progress"],
                env={**os.environ, "RESPAN_API_KEY": KEY, "RESPAN_BASE_URL": server.base_url},
                check=True,
                capture_output=True,
            )  # fmt: skip
            cli = time.perf_counter() - started
            exported = sum(1 for _ in (Path(folder) / "out.jsonl").open(encoding="utf-8"))

            started = time.perf_counter()
            text = client.datasets.logs.export(dataset)
            export = time.perf_counter() - started

            started = time.perf_counter()
            count = sum(1 for _ in client.datasets.logs.iter(dataset, sort_by="-timestamp"))
            pages = time.perf_counter() - started

            started = time.perf_counter()
            for page in range(1, baseline_pages + 1):
                client.datasets.logs.list(dataset, page=page, page_size=100)
            per_page = (time.perf_counter() - started) / baseline_pages
    total_pages = -(-logs // 100)
    return {
        "logs": logs,
        "db_mb": size / 1e6,
        "cli_seconds": cli,
        "cli_rows": exported,
        "export_seconds": export,
        "export_rows": text.count("\n"),
        "pages_seconds": pages,
        "pages_rows": count,
        "before_seconds_estimate": per_page * total_pages,
        "before_pages_timed": baseline_pages,
    }


def section(result: dict[str, Any]) -> list[str]:
    """Section 6 of the report."""
    lines = ["## 6. Reading a dataset back", ""]
    if "error" in result:
        return [*lines, f"Failed: {result['error']}", ""]
    n = result["logs"]
    before = result["before_seconds_estimate"]

    def row(name: str, seconds: float, rows: int | str) -> str:
        return f"| {name} | {seconds:,.1f} s | {rows:,} | ×{before / seconds:,.0f} |"  # noqa: RUF001

    return [
        *lines,
        f"Every log of a {n:,}-log dataset ({result['db_mb']:.0f} MB of SQLite) out of the "
        "local server, each way timed once in the same run (`benchmarks/reading.py`).",
        "",
        "| how | time | logs | faster than before |",
        "|---|---|---|---|",
        row("`respan-otel logs export DATASET -o FILE` (fresh process)", result["cli_seconds"],
            result["cli_rows"]),
        row("`client.datasets.logs.export()` (the server's export, one request)",
            result["export_seconds"], result["export_rows"]),
        row("pages of 100, newest first (what other servers get)", result["pages_seconds"],
            result["pages_rows"]),
        f"| before: pages of 100 in the default order, as `export()` read them "
        f"(estimated from the first {result['before_pages_timed']} pages) | {before:,.0f} s "
        f"| {n:,} | ×1 |",  # noqa: RUF001
        "",
    ]  # fmt: skip


if __name__ == "__main__":
    if sys.argv[1:2] == ["--section"]:
        print("\n".join(section(measure(int(sys.argv[2])))))
    else:
        args = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
        print(json.dumps(measure(args.get("logs", 30_000), args.get("baseline_pages", 5))))
