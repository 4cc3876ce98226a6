"""respan-otel benchmarks: one command measures everything and writes the report.

    .venv/bin/python benchmarks/run.py            # full run -> docs/benchmarks.md
    .venv/bin/python benchmarks/run.py --quick    # seconds, no peers -> stdout (CI)

Options: ``--no-peers`` skips the peer SDKs; ``--output PATH`` writes the report there
(``-`` for stdout). The raw results go to ``benchmarks/.results/`` (git-ignored);
``--render benchmarks/.results/full.json`` rebuilds the report from them (after editing
``benchmarks/notes.md``, the hand-written findings appended to it).

Each measurement runs in a fresh worker process (this directory's scripts, with a JSON
argument). The peers run in their own venvs under ``benchmarks/.venvs/``, built here on
first use and reused while their pinned requirements are unchanged. Work that is not
timed per call (the paced delivery run, the memory runs, building peer venvs) runs
first, side by side; the per-call timings run afterwards, one at a time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import peers  # noqa: E402
import report  # noqa: E402

FULL: dict[str, Any] = {
    # shared box: per-round ratios spread about ±0.4, so the median needs many rounds
    "overhead": {"rounds": 31, "target_seconds": 0.25},
    "peers": {"rounds": 5, "target_seconds": 0.25},
    "throughput": {"typical": 5_000, "large": 200, "rounds": 5},
    "delivery": {"typical": 20_000},
    "paced": {"limit": 30, "window": 60.0, "batch": 500, "tail": 5.0},
    "fleet": {
        "processes": 16,
        "limit": 30,
        "window": 60.0,
        "batch": 500,
        "seconds": 180,
        "fractions": [0.5, 0.9],
        "replay": 150,
    },
    "burst": {"calls": 19_000, "limit": 30, "window": 60.0, "batch": 500, "replay": 90},
    "long_outage": {"seconds": 600, "rate": 100, "replay": 120},
    "outage": {"spans": 100_000, "settle": 120},
    "steady": {"calls": 300_000},
    "tracing": {"calls": 1_000_000},
    "imports": {"repeats": 10},
    "reading": {"logs": 30_000, "baseline_pages": 5},
    "mapping": {"own": 3_000, "runs": 500, "rounds": 15},
}
QUICK: dict[str, Any] = {
    "overhead": {"rounds": 3, "target_seconds": 0.01},
    "peers": {"rounds": 2, "target_seconds": 0.01},
    "throughput": {"typical": 500, "large": 10, "rounds": 2},
    "delivery": {"typical": 1_000},
    "paced": {"limit": 10, "window": 1.0, "batch": 20, "tail": 2.5},
    "fleet": {
        "processes": 3,
        "limit": 10,
        "window": 2.0,
        "batch": 20,
        "seconds": 4,
        "fractions": [0.9],
        "replay": 5,
    },
    "burst": {"calls": 254, "limit": 10, "window": 2.0, "batch": 20, "replay": 5},
    "long_outage": {"seconds": 6, "rate": 100, "replay": 10},
    "outage": {"spans": 3_000, "settle": 30, "export_timeout": 1.0},
    "steady": {"calls": 5_000},
    "tracing": {"calls": 5_000},
    "imports": {"repeats": 2},
    "reading": {"logs": 1_000, "baseline_pages": 2},
    "mapping": {"own": 200, "runs": 30, "rounds": 3},
}


def worker(script: str, args: dict[str, Any], *, env: dict[str, str] | None = None) -> Any:
    """Run ``script`` with ``args``; its last line of output, parsed, or ``{"error": ...}``."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(HERE / script), json.dumps(args)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=1800,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = done.stderr.strip().splitlines()[-1:] or [f"exit code {done.returncode}"]
        return {"error": f"{script} {args.get('mode', '')}: {tail[0][:300]}"}
    result = json.loads(lines[-1])
    result["wall_seconds"] = time.monotonic() - started
    return result


def import_times(repeats: int) -> dict[str, Any]:
    """Fresh interpreters, interleaved: wall time of ``-c CODE``, and in separate runs the
    total and the heaviest modules of ``-X importtime`` (which slows imports down).

    Every module is imported from cached bytecode, as after ``pip install`` (which
    compiles what it installs): the opentelemetry packages come with theirs, while this
    checkout, installed in editable mode, would otherwise be compiled from source on each
    run when ``PYTHONDONTWRITEBYTECODE`` is set (it is on the benchmark machine). The
    bytecode goes to a temporary ``PYTHONPYCACHEPREFIX``, never into the source tree."""
    targets = {
        "python": "pass",
        "otel": "import opentelemetry.sdk.trace",
        "respan": "import respan_otel",
    }
    prefix = tempfile.mkdtemp(prefix="respan-bench-pycache-")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = prefix
    for code in targets.values():  # the warm-up that writes the bytecode
        subprocess.run([sys.executable, "-c", code], check=True, env=env)
    wall: dict[str, list[float]] = {name: [] for name in targets}
    cumulative: dict[str, list[float]] = {name: [] for name in targets}
    heaviest: dict[str, float] = {}
    row = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \| ( *)(\S+)")
    for _ in range(repeats):
        for name, code in targets.items():
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True, env=env)
            wall[name].append((time.perf_counter() - started) * 1000)
            done = subprocess.run(
                [sys.executable, "-X", "importtime", "-c", code],
                capture_output=True,
                text=True,
                check=True,
                env=env,
            )
            rows = row.findall(done.stderr)
            cumulative[name].append(sum(int(total) for _, total, pad, _ in rows if not pad) / 1000)
            if name == "respan":
                for self_us, _, _, module in rows:
                    heaviest[module] = heaviest.get(module, 0.0) + int(self_us) / 1000 / repeats
    shutil.rmtree(prefix, ignore_errors=True)
    top_modules = sorted(heaviest.items(), key=lambda item: -item[1])[:8]
    heavy = ("requests", "urllib3", "asyncio")
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys, respan_otel; print([m for m in {heavy!r} if m in sys.modules])",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return {
        "wall_ms": wall,
        "importtime_ms": cumulative,
        "heaviest_self_ms": top_modules,
        "light": loaded == "[]",
    }


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with Path("/proc/cpuinfo").open(encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with Path("/proc/meminfo").open(encoding="utf-8") as info:
        memory_kb = int(info.readline().split()[1])
    packages = ["respan-otel", "opentelemetry-api", "opentelemetry-sdk", "wrapt", "requests"]
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": memory_kb / 1024 / 1024,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "system": f"{platform.system()} {platform.release()}",
        "packages": {name: version(name) for name in packages},
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def speed_probe() -> float:
    """µs for ``sum(range(1000))``: how fast this machine was, for comparing runs."""
    samples = []
    for _ in range(7):
        started = time.perf_counter()
        for _ in range(2_000):
            sum(range(1000))
        samples.append((time.perf_counter() - started) / 2_000 * 1e6)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="seconds-long smoke run (CI)")
    parser.add_argument("--no-peers", action="store_true", help="skip the peer SDKs")
    parser.add_argument("--output", help="where the report goes ('-' for stdout)")
    parser.add_argument("--render", metavar="JSON", help="only re-render saved results")
    options = parser.parse_args()
    if options.render:
        results = json.loads(Path(options.render).read_text())
        target = options.output or str(ROOT / "docs" / "benchmarks.md")
        text = report.render(results)
        if target == "-":
            sys.stdout.write(text)
        else:
            Path(target).write_text(text)
        return 0
    settings = QUICK if options.quick else FULL
    with_peers = not (options.quick or options.no_peers)
    output = options.output or ("-" if options.quick else str(ROOT / "docs" / "benchmarks.md"))
    started = time.monotonic()
    results: dict[str, Any] = {"machine": machine(), "quick": options.quick, "settings": settings}
    results["speed_before_us"] = speed_probe()

    def log(message: str) -> None:
        print(f"[{time.monotonic() - started:6.1f} s] {message}", file=sys.stderr, flush=True)

    # Phase 1, side by side: nothing here is timed per call.
    log("phase 1: paced delivery, memory" + (", peer venvs" if with_peers else ""))
    with ThreadPoolExecutor(max_workers=5) as pool:
        outage = settings["outage"]
        jobs: dict[str, Future[Any]] = {
            "paced": pool.submit(worker, "exporting.py", {"mode": "paced", **settings["paced"]}),
            "steady": pool.submit(worker, "memory.py", {"mode": "steady", **settings["steady"]}),
            "tracing": pool.submit(worker, "memory.py", {"mode": "tracing", **settings["tracing"]}),
            "outage": pool.submit(
                worker, "memory.py", {"mode": "outage", "spool": False, **outage}
            ),
            "outage_spool": pool.submit(
                worker, "memory.py", {"mode": "outage", "spool": True, **outage}
            ),
        }
        if with_peers:
            jobs["venvs"] = pool.submit(peers.prepare, list(peers.PEERS))
        done = {name: job.result() for name, job in jobs.items()}
    results["paced"] = done.pop("paced")
    results["venvs"] = done.pop("venvs", {})
    results["memory"] = done
    log("phase 1 done")

    # Phase 1b, side by side again (after phase 1, so that pacing is measured alone): the
    # org limit shared by a fleet, a burst at exit, a long outage.
    log("phase 1b: fleet, burst, long outage")
    with ThreadPoolExecutor(max_workers=3) as pool:
        fleet_jobs = {
            "fleet": pool.submit(worker, "fleet.py", {"mode": "fleet", **settings["fleet"]}),
            "burst": pool.submit(worker, "fleet.py", {"mode": "burst", **settings["burst"]}),
            "long_outage": pool.submit(
                worker, "fleet.py", {"mode": "outage", **settings["long_outage"]}
            ),
        }
        results |= {name: job.result() for name, job in fleet_jobs.items()}

    # Phase 2, one at a time: per-call timings and throughput.
    log("phase 2: decorator overhead")
    results["overhead"] = worker("overhead.py", {"mode": "main", **settings["overhead"]})
    results["disabled"] = worker(
        "overhead.py",
        {"mode": "disabled", **settings["overhead"]},
        env={"OTEL_SDK_DISABLED": "true"},
    )
    results["peers"] = {}
    for name in peers.PEERS if with_peers else ():
        log(f"peer {name}")
        if not results["venvs"][name]["ok"]:
            results["peers"][name] = {"error": results["venvs"][name]["error"]}
            continue
        measured = peers.measure(name, **settings["peers"])
        measured["versions"] = peers.versions(name)
        results["peers"][name] = measured
    log("exporter throughput")
    results["throughput"] = worker("exporting.py", {"mode": "throughput", **settings["throughput"]})
    results["delivery"] = worker("exporting.py", {"mode": "delivery", **settings["delivery"]})
    log("reading a dataset back")
    results["reading"] = worker("reading.py", settings["reading"])
    log("mapping cost per span, before and after")
    results["mapping"] = worker("mapping.py", settings["mapping"])
    log("import time")
    results["imports"] = import_times(**settings["imports"])
    results["speed_after_us"] = speed_probe()
    results["total_seconds"] = time.monotonic() - started
    log("done")

    (HERE / ".results").mkdir(exist_ok=True)
    name = "quick.json" if options.quick else "full.json"
    (HERE / ".results" / name).write_text(json.dumps(results, indent=1))
    text = report.render(results)
    if output == "-":
        sys.stdout.write(text)
    else:
        Path(output).write_text(text)
        log(f"report written to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
