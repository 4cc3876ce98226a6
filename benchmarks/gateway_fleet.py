"""Gateway fleet benchmark: N app processes against one org-wide limit, with or without a gateway.

    .venv/bin/python benchmarks/gateway_fleet.py       # N = 1, 4, 16, 64, both ways, + kill -9
    .venv/bin/python benchmarks/gateway_fleet.py --n 4 --duration 20 --output -   # a look

For each N, ``rate`` logs/s in total (300 by default, above the 250 logs/s ceiling) are
offered for ``duration`` seconds by N processes, in two set-ups measured one after the
other against the same backend: the local server in its organisation-wide mode
(``LocalRespan(org_rate_limit_per_minute=30)``: 30 bulk requests in any 60 s, whatever
process or key sends them; 429 + Retry-After beyond), which also meters every bulk
request it accepts (when, how many logs, how old each log was):

- ``gateway``: every app uses the stock OTLP/HTTP exporter to one ``respan-otel gateway``
  process, which alone holds the API key;
- ``in-process``: every app runs ``respan_otel.configure()`` and sends on its own.

Reported per run: logs offered, delivered (rows stored, after a drain), lost acknowledged
spans (gateway), 429s, fill (logs per accepted request), share of the ceiling (logs
accepted in the 60 s window from ``warmup`` s after the start, over 15,000), end-to-end
latency (row's timestamp -> accepted), and the gateway's CPU seconds per span. With
``--kill`` a gateway run is repeated with a ``kill -9`` of the gateway mid-run and a
restart. The section between the ``gateway-fleet`` markers of docs/benchmarks.md is
replaced with the results (``benchmarks/run.py`` keeps it when it rewrites the file).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT)]

from gateway_fleet_report import MARK_END, MARK_START, TARGET, judge, verdict_comment, write  # noqa: E402

from respan_otel import RespanClient  # noqa: E402
from respan_otel.local import LocalRespan  # noqa: E402
from respan_otel.local._org_limit import OrgRateLimiter  # noqa: E402
from tests.gateway.process import GatewayProcess  # noqa: E402

LIMIT, WINDOW, BATCH = 30, 60.0, 500
CEILING_PER_WINDOW = LIMIT * BATCH
NONE = "n/a"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(mode: str, n: int, options: argparse.Namespace, *, kill_at: float | None = None) -> dict:
    token = secrets.token_urlsafe(16)
    local = LocalRespan(org_rate_limit_per_minute=LIMIT)
    with local, tempfile.TemporaryDirectory() as scratch:
        record = local.limiter
        assert isinstance(record, OrgRateLimiter)
        client = RespanClient(api_key=local.api_key, base_url=local.base_url)
        dataset = client.datasets.create(name=f"fleet {mode} {n}", is_empty=True)
        api = {
            "RESPAN_API_KEY": local.api_key,
            "RESPAN_BASE_URL": local.base_url,
            "RESPAN_DATASET_ID": dataset.id,
            "RESPAN_REQUESTS_PER_MINUTE": str(LIMIT),  # what each would use against Respan
        }
        base = {k: v for k, v in os.environ.items() if not k.startswith(("RESPAN_", "OTEL_"))}
        gateway = None
        if mode == "gateway":
            gateway = GatewayProcess(
                Path(scratch) / "gateway",
                {**api, "RESPAN_GATEWAY_TOKENS": token},
            ).start()
            cpu_before = cpu_seconds(gateway.process.pid)  # type: ignore[union-attr]
        start_at = time.time() + max(5.0, 0.5 * n)
        apps = []
        for worker in range(n):
            if gateway is not None:
                env = {
                    **base,
                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{gateway.url}/v1/traces",
                    "OTEL_EXPORTER_OTLP_TRACES_HEADERS": f"authorization=Bearer%20{token}",
                    "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "gzip",
                }
            else:
                env = {
                    **base,
                    **api,
                    "RESPAN_SPOOL_DIR": str(Path(scratch) / f"spool-{worker}"),
                }
            argument = {
                "mode": mode,
                "rate": options.rate / n,
                "duration": options.duration,
                "start_at": start_at,
                "worker": worker,
            }
            apps.append(
                subprocess.Popen(
                    [sys.executable, str(HERE / "gateway_fleet_app.py"), json.dumps(argument)],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                    text=True,
                )
            )
        killed: dict[str, Any] = {}
        if kill_at is not None and gateway is not None:
            time.sleep(max(0.0, start_at + kill_at - time.time()))
            killed["cpu"] = cpu_seconds(gateway.process.pid)  # type: ignore[union-attr]
            gateway.kill()
            killed["journalled"] = sum(
                int(p.stem.split("-")[1]) for p in (gateway.directory / "journal").glob("*.otlp")
            )
            gateway.start()
            cpu_before -= killed["cpu"]
        reports = [
            json.loads(app.communicate(timeout=600)[0].strip().splitlines()[-1]) for app in apps
        ]
        offered = sum(report["offered"] for report in reports)
        acked = {span_id for report in reports for span_id in report["acked"]}
        drained_at = time.time()
        if gateway is not None:
            deadline = time.time() + options.drain
            while time.time() < deadline:
                stats = gateway.stats()
                if (
                    stats["queued_spans"] == 0
                    and stats["delivered_rows"] + stats["failed_rows"]
                    >= stats["durable_spans"] - stats["not_row_spans"]
                ):
                    break
                time.sleep(1)
            drained_at = time.time()
            gateway_stats = gateway.stats()
            cpu = cpu_seconds(gateway.process.pid) - cpu_before  # type: ignore[union-attr]
            gateway.stop()
        # one export request: paging through tens of thousands of logs takes minutes
        exported = client.datasets.logs.export(dataset.id).splitlines()
        stored = {json.loads(line)["metadata"]["span_id"] for line in exported}
        client.close()
    window_start = start_at + options.warmup
    accepted = list(record.accepted)
    in_window = sum(
        bulk.logs for bulk in accepted if window_start <= bulk.at < window_start + WINDOW
    )
    latencies = sorted(age for bulk in accepted for age in bulk.ages)
    result: dict[str, Any] = {
        "mode": mode,
        "n": n,
        "offered": offered,
        "delivered": len(stored),
        "requests": len(accepted),
        "rejected_429": record.refused,
        "fill": (sum(bulk.logs for bulk in accepted) / len(accepted)) if accepted else 0.0,
        "share_of_ceiling": in_window / CEILING_PER_WINDOW,
        "latency_p50": _quantile(latencies, 0.5),
        "latency_p95": _quantile(latencies, 0.95),
        "latency_max": latencies[-1] if latencies else None,
        "late_start": max(report["late"] for report in reports),
        "drain_seconds": drained_at - (start_at + options.duration),
    }
    if gateway is not None:
        result["acked"] = len(acked)
        result["acked_lost"] = len(acked - stored)
        result["gateway_429"] = gateway_stats["requests"]["throttled"]
        result["cpu_us_per_span"] = 1e6 * cpu / max(1, gateway_stats["durable_spans"])
        if killed:
            result["kill"] = {"journalled_at_kill": killed["journalled"]}
    else:
        totals: dict[str, int] = {}
        for report in reports:
            for key, value in report["stats"].items():
                totals[key] = totals.get(key, 0) + value
        result["exporter"] = totals
    print(json.dumps(result), file=sys.stderr, flush=True)
    return result


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return values[min(len(values) - 1, int(q * len(values)))]


def _fmt_latency(result: dict) -> str:
    if result["latency_p50"] is None:
        return NONE
    return (
        f"{result['latency_p50']:.1f} / {result['latency_p95']:.1f} / {result['latency_max']:.0f}"
    )


def render(results: list[dict], options: argparse.Namespace) -> str:
    lines = [
        MARK_START,
        "## 3c. A fleet through one gateway, against the org limit",
        "",
        f"`benchmarks/gateway_fleet.py`, {time.strftime('%Y-%m-%d', time.gmtime())}, this machine"
        " "
        f"({os.cpu_count()} cores, shared). {options.rate:g} logs/s offered in total (the "
        f"ceiling is 250) for {options.duration:g} s by N app processes; the backend is the "
        f"local server in its org-wide mode (`LocalRespan(org_rate_limit_per_minute={LIMIT})`"
        f": {LIMIT} bulk requests in any {WINDOW:g} s, whoever sends them, 429 + "
        "Retry-After beyond; it meters every request it accepts). *gateway*: stock "
        "OTLP/HTTP exporter (gzip) → `respan-otel gateway` (holds the key, paced at "
        "30/min) → API. *in-process*: `respan_otel.configure()` in every process, each "
        "paced at 30/min (what each would use against Respan). Share of ceiling: logs "
        f"accepted in the 60 s window starting {options.warmup:g} s after the load starts, "
        "over 15,000. Latency: row's timestamp → accepted by the API, p50 / p95 / max "
        "seconds (the gateway's backlog grows at "
        "offered - ceiling, so latency grows through the run by design). Delivered: rows "
        "stored once the apps exited and the gateway drained its journal.",
        "",
        "| set-up | N | offered | delivered | acked lost | 429s from API | fill (logs/req) "
        "| share of ceiling | latency s p50/p95/max | gateway CPU µs/span |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        gateway = result["mode"] == "gateway"
        name = "gateway, kill -9 mid-run" if "kill" in result else result["mode"]
        name = "in-process" if name == "inprocess" else name
        lines.append(
            f"| {name} | {result['n']} | {result['offered']:,} | {result['delivered']:,} "
            f"({result['delivered'] / max(1, result['offered']):.1%}) "
            f"| {result['acked_lost'] if gateway else NONE} | {result['rejected_429']:,} "
            f"| {result['fill']:.0f} | {result['share_of_ceiling']:.1%} "
            f"| {_fmt_latency(result)} "
            f"| {result['cpu_us_per_span']:.0f} |"
            if gateway
            else f"| {name} | {result['n']} | {result['offered']:,} | {result['delivered']:,} "
            f"({result['delivered'] / max(1, result['offered']):.1%}) | {NONE} "
            f"| {result['rejected_429']:,} | {result['fill']:.0f} "
            f"| {result['share_of_ceiling']:.1%} | {_fmt_latency(result)} | {NONE} |"
        )
    kills = [result for result in results if "kill" in result]
    for result in kills:
        lines += [
            "",
            f"kill -9 run: the gateway was killed {options.kill_at:g} s into the load with "
            f"{result['kill']['journalled_at_kill']:,} acknowledged spans in its journal and "
            f"restarted at once; {result['acked']:,} spans were acknowledged in all, "
            f"{result['acked_lost']} of them lost. Spans the apps could not hand over while "
            "it was down stay in their SDK queues and are retried (or dropped by the SDK "
            "when its queue is full: never acknowledged, so not counted as lost). Its share "
            "of the ceiling is lower because of the senders' back-off: while the gateway is "
            "down the apps' exporters wait (exponentially, up to tens of seconds), so less is "
            "journalled inside the measured window, and the backlog is delivered afterwards "
            f"({result['drain_seconds']:.0f} s of drain after the load ended). The restarted "
            "gateway counted its last minute of requests (read back from its directory) "
            f"against the budget: {result['rejected_429']} 429s from the API.",
        ]
    measured, met = judge(results)
    shown = {True: "**met**", False: "**missed**", None: "not measured"}[met]
    lines += [
        "",
        f"Target ({TARGET}): {shown}. {measured}.",
        verdict_comment(results),
        "",
        "Raw results: `benchmarks/.results/gateway_fleet.json` (re-render with `--render`).",
        MARK_END,
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1, 4, 16, 64])
    parser.add_argument("--modes", nargs="+", default=["gateway", "in-process"])
    parser.add_argument("--rate", type=float, default=300.0)
    parser.add_argument("--duration", type=float, default=80.0)
    parser.add_argument("--warmup", type=float, default=15.0)
    parser.add_argument("--drain", type=float, default=120.0)
    parser.add_argument("--kill", type=int, default=16, help="N of the kill -9 run (0: none)")
    parser.add_argument("--kill-at", type=float, default=30.0)
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    parser.add_argument("--render", metavar="JSON", help="only re-render saved results")
    options = parser.parse_args()
    if options.render:
        saved = json.loads(Path(options.render).read_text())
        if isinstance(saved, list):  # results alone: the options are the command line's
            saved = {"options": {}, "results": saved}
        options.__dict__.update(saved["options"])
        publish(saved["results"], options)
        return
    results = []
    for n in options.n:
        for mode in options.modes:
            results.append(run("gateway" if mode == "gateway" else "inprocess", n, options))
    if options.kill:
        results.append(run("gateway", options.kill, options, kill_at=options.kill_at))
    (HERE / ".results").mkdir(exist_ok=True)
    kept = {k: v for k, v in vars(options).items() if k not in ("output", "render")}
    saved = {"options": kept, "results": results}
    (HERE / ".results" / "gateway_fleet.json").write_text(json.dumps(saved, indent=1))
    publish(results, options)


def publish(results: list[dict], options: argparse.Namespace) -> None:
    section = render(results, options)
    if options.output != "-":
        write(Path(options.output), section)
    print(section)


if __name__ == "__main__":
    main()
