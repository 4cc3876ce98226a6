# ruff: noqa: RUF001, RUF002  (the report is typeset: the times sign and en dash are meant)
"""Turns the results of ``run.py`` into ``docs/benchmarks.md``: tables and target verdicts.

Every number is a median with its min–max over rounds (or repeats) unless said otherwise;
every ratio is a median of per-round ratios of variants timed side by side.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import reading
from common import SHAPES, paired_ratio, summary
from delivery_report import delivery_tables
from gateway_fleet_report import kept_section
from peers import PEERS
from report_mapping import mapping_table

HERE = Path(__file__).resolve().parent
NOTES = HERE / "notes.md"
QUEUE = 20_000
"""``configure()``'s batch queue (``MAX_QUEUE_SIZE``), in spans."""
TARGET_RATIO = 1.2
"""``@trace`` with capture on, against the raw OTel decorator: sync, async and nested."""
TARGET_GENERATOR_RATIO = 1.5
TARGET_NOCAPTURE_RATIO = 1.05
"""``@trace`` with capture off, against the span alone (raw OTel without attributes)."""
TARGET_IMPORT_RATIO = 1.3
"""``import respan_otel`` against ``import opentelemetry.sdk.trace`` (``-X importtime``)."""
TARGET_DISABLED_US = 1.0
TARGET_LOGS_PER_SECOND = 20_000
TARGET_PACED_SHARE = 0.95
FLAT_MB = 20.0
"""Peak RSS growth under which memory counts as flat: a quarter of what the full queue
(20,000 typical spans, ~80 MB) takes."""
NO_GROWTH_MB = 5.0
LEAK_BLOCKS_PER_CALL = 0.1
"""Allocated blocks gained per call after which memory counts as growing (one object
leaked per call would be at least 1; caches filling up stay far below)."""

SHAPE_TITLES = {
    "sync": "sync",
    "async": "async",
    "generator": "generator (10 items)",
    "nested": "nested (11 spans)",
}
VARIANT_TITLES = {
    "undecorated": "undecorated",
    "raw": "raw OTel baseline (span + 2× `json.dumps`)",
    "raw-noattrs": "raw OTel, no attributes (the span alone)",
    "trace": "`@trace`",
    "trace-nocapture": "`@trace(capture_input=False, capture_output=False)`",
}


def num(value: float) -> str:
    """Three significant figures at most, never in exponent form."""
    if value != value:  # NaN
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def spread(values: list[float]) -> str:
    s = summary(values)
    return f"{num(s['median'])} [{num(s['min'])}–{num(s['max'])}]"


def ratio(stats: dict[str, float]) -> str:
    return f"×{stats['median']:.2f} [{stats['min']:.2f}–{stats['max']:.2f}]"


def verdict(met: bool | None) -> str:
    return {True: "**met**", False: "**missed**", None: "not measured"}[met]


def failed(result: Any) -> str | None:
    if not isinstance(result, dict):
        return "not run"
    return result.get("error")


# -- sections ----------------------------------------------------------------------------------


def overhead(results: dict[str, Any], targets: list[list[str]]) -> list[str]:
    main, disabled = results["overhead"], results["disabled"]
    lines = ["## 1. Decorator overhead per call", ""]
    if failed(main):
        targets.append(
            [f"`@trace` ≤ {TARGET_RATIO}× raw OTel, capture on", failed(main) or "", verdict(None)]
        )
        return [*lines, f"Not measured: {failed(main)}", ""]
    samples = main["samples"]
    lines += [
        "µs per call (per outer call for nested), median [min–max] over "
        f"{len(samples['raw']['sync'])} rounds; ×raw is the median [min–max] of per-round "
        "ratios to the raw baseline timed in the same round.",
        "",
        "| variant | " + " | ".join(SHAPE_TITLES[s] for s in SHAPES) + " |",
        "|---|" + "---|" * len(SHAPES),
    ]
    for name, title in VARIANT_TITLES.items():
        cells = []
        for shape in SHAPES:
            cell = spread(samples[name][shape])
            if name not in ("raw", "undecorated"):
                cell += f" {ratio(paired_ratio(samples[name][shape], samples['raw'][shape]))}"
            cells.append(cell)
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    ratios = {s: paired_ratio(samples["trace"][s], samples["raw"][s])["median"] for s in SHAPES}
    calls = [s for s in SHAPES if s != "generator"]
    targets.append(
        [
            f"`@trace` ≤ {TARGET_RATIO}× raw OTel, capture on ({', '.join(calls)})",
            ", ".join(f"{s} ×{ratios[s]:.2f}" for s in calls),
            verdict(max(ratios[s] for s in calls) <= TARGET_RATIO),
        ]
    )
    targets.append(
        [
            f"traced generator ≤ {TARGET_GENERATOR_RATIO}× raw OTel, capture on",
            f"×{ratios['generator']:.2f}",
            verdict(ratios["generator"] <= TARGET_GENERATOR_RATIO),
        ]
    )
    bare = {
        s: paired_ratio(samples["trace-nocapture"][s], samples["raw-noattrs"][s])["median"]
        for s in SHAPES
    }
    targets.append(
        [
            "`@trace`, capture off ≤ the span alone + "
            f"{round((TARGET_NOCAPTURE_RATIO - 1) * 100)} %",
            ", ".join(f"{s} ×{r:.2f}" for s, r in bare.items()),
            verdict(max(bare.values()) <= TARGET_NOCAPTURE_RATIO),
        ]
    )
    lines += [
        "",
        f"Spans exported: {main['spans']:,} of {main['expected_spans']:,} made; attributes "
        f"seen on them: `{'`, `'.join(main['attributes'])}`.",
        "",
    ]
    if failed(disabled):
        targets.append(["disabled ≤ 1 µs above undecorated", failed(disabled) or "", "—"])
        return [*lines, f"`OTEL_SDK_DISABLED=true`: not measured: {failed(disabled)}", ""]
    lines += [
        "`OTEL_SDK_DISABLED=true`, in its own process (set before the interpreter started): "
        "µs per call, median [min–max], and the extra cost per decorated call (nested: per "
        "span, the outer call divided by 11), the median of per-round differences.",
        "",
        "| variant | " + " | ".join(SHAPE_TITLES[s] for s in SHAPES) + " |",
        "|---|" + "---|" * len(SHAPES),
    ]
    plain, traced = disabled["samples"]["undecorated"], disabled["samples"]["trace-disabled"]
    extra: dict[str, float] = {}
    for shape in SHAPES:
        per = 11 if shape == "nested" else 1
        diffs = [(a - b) / per for a, b in zip(traced[shape], plain[shape], strict=True)]
        extra[shape] = statistics.median(diffs)
    lines.append("| undecorated | " + " | ".join(spread(plain[s]) for s in SHAPES) + " |")
    lines.append(
        "| `@trace`, SDK disabled | " + " | ".join(spread(traced[s]) for s in SHAPES) + " |"
    )
    lines.append(
        "| extra per decorated call | " + " | ".join(f"+{num(extra[s])}" for s in SHAPES) + " |"
    )
    worst_extra = max(extra.values())
    targets.append(
        [
            f"`OTEL_SDK_DISABLED=true`: ≤ {TARGET_DISABLED_US:g} µs above undecorated",
            ", ".join(f"{s} +{num(v)} µs" for s, v in extra.items()),
            verdict(worst_extra <= TARGET_DISABLED_US),
        ]
    )
    return [*lines, ""]


def peer_table(results: dict[str, Any]) -> list[str]:
    lines = ["## 2. Peer SDKs, same run", ""]
    if not results["peers"]:
        return [*lines, "Not run (`--no-peers` or `--quick`).", ""]
    main = results["overhead"]
    ours: dict[str, float] = {}
    if not failed(main):
        samples = main["samples"]
        for shape in ("sync", "async", "nested"):
            ours[shape] = paired_ratio(samples["trace"][shape], samples["raw"][shape])["median"]
    lines += [
        "µs per call, median [min–max] over rounds, each peer in its own venv and process "
        "with input/output capture on and a discarding exporter. ×raw: median of per-round "
        "ratios to the raw OTel baseline timed in the same process (the peer's OTel "
        "version). ×@trace = the peer's ×raw divided by `@trace`'s ×raw from section 1, "
        "so drift between processes cancels out.",
        "",
        "| SDK | versions | sync µs | ×raw | ×@trace | async µs | ×raw | ×@trace "
        "| nested µs | ×raw | ×@trace | spans exported | setup |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    if ours:
        row = [f"×{ours[s]:.2f} | ×1.00" for s in ("sync", "async", "nested")]
        sync, asynchronous, nested = (
            spread(main["samples"]["trace"][s]) for s in ("sync", "async", "nested")
        )
        lines.append(
            f"| **respan-otel `@trace`** | {results['machine']['packages']['respan-otel']} "
            f"| {sync} | {row[0]} | {asynchronous} | {row[1]} | {nested} | {row[2]} "
            "| see §1 | `TracerProvider` + `BatchSpanProcessor(discarding)` |"
        )
    for name, peer in results["peers"].items():
        spec = PEERS[name]
        if failed(peer):
            lines.append(
                f"| {spec.label} | — | could not be set up offline: {failed(peer)} "
                "| | | | | | | | | | |"
            )
            continue
        versions = ", ".join(f"{k} {v}" for k, v in peer["versions"].items())
        cells = []
        for shape in ("sync", "async", "nested"):
            times = peer["samples"]["peer"][shape]
            to_raw = paired_ratio(times, peer["samples"]["raw"][shape])["median"]
            to_ours = f"×{to_raw / ours[shape]:.2f}" if ours else "n/a"
            cells.append(f"{spread(times)} | ×{to_raw:.2f} | {to_ours}")
        exported = f"{peer['spans']['peer']:,} of {peer['expected_spans']:,}"
        lines.append(
            f"| {spec.label} | {versions} | {' | '.join(cells)} | {exported} | {spec.notes} |"
        )
    lines.append("")
    return lines


def exporter_tables(results: dict[str, Any], targets: list[list[str]]) -> list[str]:
    lines = ["## 3. Exporter throughput and delivery", ""]
    thr = results["throughput"]
    if failed(thr):
        lines += [f"Throughput not measured: {failed(thr)}", ""]
        targets.append(["mapping + encoding ≥ 20,000 logs/CPU-s", failed(thr) or "", verdict(None)])
    else:
        lines += [
            "Spans recorded by `@trace`, then passed through the public "
            "`RespanDatasetExporter.export()` in batches of 500 (mapping, encoding, chunking, "
            "HTTP) into a backend in another process that answers at once. Logs/s, median "
            "[min–max] over passes; per CPU-second counts only the exporting thread.",
            "",
            "| log size | bytes/log | logs/request | logs/s (wall) | logs/s per CPU-s | MB/s |",
            "|---|---|---|---|---|---|",
        ]
        for name, title in (("typical", "typical (~1 KB)"), ("large", "large (~100 KB)")):
            case = thr[name]
            megabytes = statistics.median(case["wall"]) * case["bytes_per_log"] / 1e6
            lines.append(
                f"| {title} | {case['bytes_per_log']:,.0f} | {case['logs_per_request']:.0f} "
                f"| {spread(case['wall'])} | {spread(case['cpu'])} | {num(megabytes)} |"
            )
        mapped = thr["map_encode_cpu"]
        lines += [
            "",
            f"**Mapping and encoding alone** (`RowBuilder.build` and the encoder, no HTTP): "
            f"{spread(mapped)} typical logs per CPU-second.",
        ]
        targets.append(
            [
                f"mapping + encoding ≥ {TARGET_LOGS_PER_SECOND:,} typical logs per CPU-second",
                f"{statistics.median(mapped):,.0f} logs/CPU-s",
                verdict(statistics.median(mapped) >= TARGET_LOGS_PER_SECOND),
            ]
        )
    delivery = results["delivery"]
    lines.append("")
    if failed(delivery):
        lines += [f"Delivery into the local server not measured: {failed(delivery)}", ""]
    else:
        rate = delivery["logs"] / delivery["seconds"]
        lines += [
            f"**End to end, pacing off**: {delivery['logs']:,} typical logs through "
            "`export()` into `LocalRespan` (another process, SQLite in memory) in "
            f"{delivery['seconds']:.1f} s: **{rate:,.0f} logs/s**; the server holds "
            f"{delivery['server_logs']:,}.",
            "",
        ]
    paced = results["paced"]
    if failed(paced):
        lines += [f"Paced delivery not measured: {failed(paced)}", ""]
        targets.append(["paced delivery ≥ 95 % of the ceiling, no 429", "", verdict(None)])
        return lines
    share = paced["steady_rate"] / paced["ceiling"]
    stats = paced["stats"]
    lines += [
        f"**Paced** (`configure()` defaults: {paced['limit']} requests per "
        f"{paced['window']:g} s, {paced['batch']} logs per request, a "
        f"{paced['ceiling']:,.0f} logs/s ceiling), with `LocalRespan` emulating the same limit "
        f"and the app producing {paced['offered_rate']:,.0f} spans/s for "
        f"{paced['seconds']:.0f} s. The first pacing window is a burst from an empty window; "
        "the steady state is the second window after the first request.",
        "",
        "| ceiling | delivered in steady state | share of ceiling | 429 responses "
        "| requests | logs exported / failed / dropped |",
        "|---|---|---|---|---|---|",
        f"| {paced['ceiling']:,.0f} logs/s | {paced['steady_rate']:,.1f} logs/s | "
        f"{share:.1%} | {paced['refused_429']} | {paced['requests_passed']} | "
        f"{stats['exported']:,} / {stats['failed']:,} / {stats['dropped']:,} |",
        "",
    ]
    targets.append(
        [
            "paced delivery ≥ 95 % of the ceiling with zero 429",
            f"{share:.1%} of {paced['ceiling']:,.0f} logs/s, {paced['refused_429']} × 429",
            verdict(share >= TARGET_PACED_SHARE and paced["refused_429"] == 0),
        ]
    )
    return lines


def memory_tables(results: dict[str, Any], targets: list[list[str]]) -> list[str]:
    memory = results["memory"]
    lines = [
        "## 4. Memory",
        "",
        "Resident set size (RSS, from `/proc/self/status`) of the process making the spans "
        "with `configure()` (pacing off so that a replay is quick), the typical ~1 KB-log "
        "function called in a tight loop. 'Dropped' counts spans evicted from the full "
        "`BatchSpanProcessor` queue (20,000): the exporter's `dropped` counter, plus any "
        "span that no counter accounts for.",
        "",
        "| backend down | spans made | RSS before | peak RSS | growth | growth over the last "
        "half | exported / spooled / failed | dropped | after the backend is back |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key, title in (("outage", "no spool"), ("outage_spool", "spool directory")):
        run = memory[key]
        if failed(run):
            lines.append(f"| {title} | not measured: {failed(run)} | | | | | | | |")
            continue
        rss = [s["rss_mb"] for s in run["rss"]]
        growth = run["peak_rss_mb"] - run["baseline_rss_mb"]
        late = rss[-1] - rss[len(rss) // 2]
        down = run["stats_down"]
        lost = run["spans"] - down["exported"] - down["spooled"] - down["failed"]
        back = "—"
        if "server_logs" in run:
            back = f"{run['server_logs']:,} logs on the server after {run['replay_seconds']:.1f} s"
        lines.append(
            f"| {title} | {run['spans']:,} | {num(run['baseline_rss_mb'])} MB | "
            f"{num(run['peak_rss_mb'])} MB | +{num(growth)} MB | {late:+.1f} MB | "
            f"{down['exported']:,} / {down['spooled']:,} / {down['failed']:,} | {lost:,} "
            f"| {back} |"
        )
        if key == "outage":
            targets.append(
                [
                    "backend down, no spool: RSS bounded by the queue",
                    f"+{num(growth)} MB peak, {late:+.1f} MB over the last half",
                    verdict(late <= NO_GROWTH_MB),
                ]
            )
        else:
            everything = run["server_logs"] == run["spans"]
            targets.append(
                [
                    "backend down, spool: RSS flat, everything delivered once back",
                    f"+{num(growth)} MB peak ({late:+.1f} MB over the last half); "
                    f"{run['server_logs']:,} of {run['spans']:,} delivered",
                    verdict(growth <= FLAT_MB and everything),
                ]
            )
    lines += ["", *tracing_memory(memory.get("tracing"), targets)]
    steady = memory["steady"]
    if failed(steady):
        lines += [f"Steady state not measured: {failed(steady)}", ""]
        return lines
    rss = [s["rss_mb"] for s in steady["rss"]]
    blocks = [s["blocks"] for s in steady["rss"]]
    queue = [s["queue"] for s in steady["rss"]]
    half = len(rss) // 2 - 1
    late = rss[-1] - rss[half]
    per_call = (blocks[-1] - blocks[half]) / (steady["calls"] / 2)
    stats = steady["stats"]
    reduced = steady["calls"] < 1_000_000 and not results["quick"]
    lines += [
        f"**Backend up** (a backend in another process that answers at once): "
        f"{steady['calls']:,} decorated calls in {steady['seconds']:.0f} s"
        + (" (fewer than the 1,000,000 asked for, to fit the 10-minute budget)" if reduced else "")
        + ". After each tenth the pipeline is flushed and garbage collected, then read: "
        "RSS (MB) "
        + ", ".join(num(v) for v in rss)
        + "; allocated memory blocks (thousands) "
        + ", ".join(f"{b / 1000:,.1f}" for b in blocks)
        + "; the most spans waiting in the queue during that tenth "
        + ", ".join(f"{q:,}" for q in queue)
        + f". Over the second half: RSS {late:+.1f} MB, {per_call:+.4f} blocks per call. "
        f"Exported {stats['exported']:,} logs; {steady['calls'] - stats['exported']:,} "
        "were lost to the full queue. RSS keeps the high-water mark of the queue (about "
        "4 KB per waiting span), so the block count is the leak test. The request pacer "
        f"holds {steady['pacer_entries']:,} timestamps at the end, with pacing off "
        f"({stats['requests']:,} requests were sent).",
        "",
    ]
    pacer = steady["pacer_entries"]
    targets.append(
        [
            f"no growth across {steady['calls']:,} decorated calls, backend up",
            f"{per_call:+.4f} allocated blocks per call over the second half "
            f"(RSS {late:+.1f} MB, queue at most {max(queue):,}); the pacer kept "
            f"{pacer:,} timestamps with pacing off",
            verdict(per_call < LEAK_BLOCKS_PER_CALL and pacer == 0),
        ]
    )
    return lines


def tracing_memory(run: Any, targets: list[list[str]]) -> list[str]:
    title = "allocated blocks flat over span()/propagate()/@trace calls in one thread"
    if failed(run):
        targets.append([title, failed(run) or "", verdict(None)])
        return [f"Tracing core: not measured: {failed(run)}", ""]
    samples = run["samples"]
    blocks = [s["blocks"] for s in samples]
    half = len(blocks) // 2
    per_call = (blocks[-1] - blocks[half]) / (run["calls"] - samples[half]["calls"])
    contexts = sorted({s["context"] for s in samples})
    targets.append(
        [
            f"{title} ({run['calls']:,} rounds)",
            f"{per_call:+.4f} blocks per round over the second half; context entries "
            f"{'/'.join(map(str, contexts))}",
            verdict(per_call < LEAK_BLOCKS_PER_CALL and len(contexts) == 1),
        ]
    )
    return [
        f"**Tracing core alone** (no exporter: an SDK provider whose exporter discards): "
        f"{run['calls']:,} rounds of `with span(), propagate():` around a `@trace` call, in "
        f"one thread, {run['seconds']:.0f} s. After each tenth, flushed and garbage "
        "collected: allocated memory blocks (thousands) "
        + ", ".join(f"{b / 1000:,.1f}" for b in blocks)
        + f"; {per_call:+.4f} blocks per round over the second half. Entries in the "
        f"thread's context: {', '.join(str(s['context']) for s in samples)}.",
        "",
    ]


def import_table(results: dict[str, Any], targets: list[list[str]]) -> list[str]:
    imports = results["imports"]
    wall, cumulative = imports["wall_ms"], imports["importtime_ms"]
    rows = (
        ("python", "`python -c pass` (interpreter start)"),
        ("otel", "`import opentelemetry.sdk.trace`"),
        ("respan", "`import respan_otel`"),
    )
    lines = [
        "## 5. Import time",
        "",
        f"Fresh interpreters, {len(wall['python'])} of each, interleaved: wall-clock ms of the "
        "whole process, and the total of `-X importtime` (the imports alone). Every module "
        "is loaded from cached bytecode, as after `pip install`.",
        "",
        "| command | wall ms | `-X importtime` ms |",
        "|---|---|---|",
    ]
    for key, title in rows:
        lines.append(f"| {title} | {spread(wall[key])} | {spread(cumulative[key])} |")
    extra = statistics.median(cumulative["respan"]) - statistics.median(cumulative["otel"])
    to_otel = statistics.median(cumulative["respan"]) / statistics.median(cumulative["otel"])
    targets.append(
        [
            f"`import respan_otel` ≤ {TARGET_IMPORT_RATIO}× `import opentelemetry.sdk.trace`",
            f"×{to_otel:.2f} (`-X importtime` medians; HTTP client and asyncio not imported: "
            f"{'yes' if imports.get('light', False) else 'no'})",
            verdict(to_otel <= TARGET_IMPORT_RATIO and imports.get("light", False)),
        ]
    )
    heaviest = ", ".join(f"`{m}` {num(ms)}" for m, ms in imports["heaviest_self_ms"])
    lines += [
        "",
        f"`import respan_otel` takes {num(abs(extra))} ms {'less' if extra < 0 else 'more'} "
        "than `import opentelemetry.sdk.trace`: it loads the OpenTelemetry API, not the SDK "
        "(`configure()` loads that, with the HTTP client). "
        f"Heaviest modules by self time (ms): {heaviest}.",
        "",
    ]
    return lines


def render(results: dict[str, Any]) -> str:
    info = results["machine"]
    targets: list[list[str]] = []
    body: list[str] = []
    body += overhead(results, targets)
    body += peer_table(results)
    body += exporter_tables(results, targets)
    body += delivery_tables(results, targets)
    body += kept_section(targets)  # written by gateway_fleet.py (too long for this run)
    body += memory_tables(results, targets)
    body += import_table(results, targets)
    body += reading.section(results["reading"]) if "reading" in results else []
    body += mapping_table(results, targets, spread=spread, failed=failed, verdict=verdict)
    packages = ", ".join(f"{k} {v}" for k, v in info["packages"].items())
    mode = "quick (smoke run: small counts, not a measurement)" if results["quick"] else "full"
    head = [
        "# Benchmarks",
        "",
        "Generated by `.venv/bin/python benchmarks/run.py` (see `benchmarks/run.py`); "
        "`--quick` is the seconds-long smoke run CI uses. Do not edit by hand: rerun.",
        "",
        f"- Run: {info['date']}, {mode}, {results['total_seconds']:.0f} s in all.",
        f"- Machine: {info['nproc']} CPUs ({info['cpu']}), {info['memory_gib']:.1f} GiB, "
        f"{info['system']}.",
        f"- Python {info['python']} ({info['implementation']}); {packages}.",
        f"- Speed probe (`sum(range(1000))`, µs; lower is faster): "
        f"{num(results['speed_before_us'])} before, {num(results['speed_after_us'])} after. "
        "The box is shared: compare ratios, not µs, across runs.",
        "",
        "## Targets",
        "",
        "| target | measured | verdict |",
        "|---|---|---|",
        *(f"| {t} | {m} | {v} |" for t, m, v in targets),
        "",
    ]
    notes = NOTES.read_text().strip().splitlines() if NOTES.exists() else []
    return "\n".join([*head, *body, *notes]).rstrip() + "\n"
