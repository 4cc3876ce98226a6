# ruff: noqa: RUF001  (the report is typeset: the times sign is meant)
"""The report's section on delivery under the organization's limit (``fleet.py``)."""

from __future__ import annotations

from typing import Any

TARGET_FLEET_SHARE = 0.95
FLAT_OUTAGE_MB = 10.0
"""RSS growth over the second half of an outage under which memory counts as flat."""


def delivery_tables(results: dict[str, Any], targets: list[list[str]]) -> list[str]:
    from report import failed, verdict  # report imports this module: import at call time

    lines = ["## 3b. Delivery under the organization's limit, a burst at exit, an outage", ""]
    fleet = results.get("fleet", {"error": "not run"})
    if failed(fleet):
        lines += [f"Fleet not measured: {failed(fleet)}", ""]
        targets.append(["fleet ≥ 95 % of what was offered, 0 lost", "", verdict(None)])
    else:
        lines += [
            f"**A fleet**: {fleet['processes']} processes on one machine, each "
            "`configure()`-d as users do (default pacing, 30 requests/min, sharing one spool "
            f"directory), offer together a share of the {fleet['ceiling']:,.0f} logs/s ceiling "
            f"({fleet['limit']} requests per {fleet['window']:g} s × {fleet['batch']} logs) "
            f"for {fleet['seconds']} s, against `LocalRespan` emulating one limit for the whole "
            "organization (`--org-rate-limit-per-minute`). Delivered: held by the server "
            "once the processes exited (bounded by the shutdown timeout); lost: offered "
            "minus held after one more process replayed the spool.",
            "",
            "| offered | logs | delivered at exit | after the next process | lost | 429s "
            "| requests let through |",
            "|---|---|---|---|---|---|---|",
        ]
        worst = 1.0
        lost = 0
        for row in fleet["rows"]:
            share = row["stored_at_exit"] / max(1, row["offered"])
            final = row["stored_final"] / max(1, row["offered"])
            worst, lost = min(worst, final), lost + max(0, row["lost"])
            lines.append(
                f"| {row['fraction']:.0%} of the ceiling ({row['offered_rate']:,.0f} logs/s) "
                f"| {row['offered']:,} | {share:.1%} | {final:.1%} | {row['lost']:,} "
                f"| {row['refused_429']} | {row['allowed']} |"
            )
        lines.append("")
        targets.append(
            [
                f"fleet of {fleet['processes']} under one org limit ≥ 95 % delivered, 0 lost",
                f"{worst:.1%} at worst, {lost} lost",
                verdict(worst >= TARGET_FLEET_SHARE and lost == 0),
            ]
        )
    lines += _burst(results.get("burst", {"error": "not run"}), targets)
    lines += _outage(results.get("long_outage", {"error": "not run"}), targets)
    if results.get("delivery_note"):  # what a partial re-run changed, said in the report
        lines += [f"*Note*: {results['delivery_note']}", ""]
    return lines


def _burst(burst: dict[str, Any], targets: list[list[str]]) -> list[str]:
    from report import failed, verdict

    if failed(burst):
        targets.append(["a burst then exit: everything delivered", "", verdict(None)])
        return [f"Burst not measured: {failed(burst)}", ""]
    lines = [
        f"**A burst then exit**: one process makes {burst['calls']:,} traced calls and exits "
        "(the flush at exit is bounded by `RESPAN_SHUTDOWN_TIMEOUT_SECONDS`, 15 s); what it "
        "could not send is in the spool, which the next process sends.",
        "",
        "| server | held at exit | spooled | failed | held after the next process |",
        "|---|---|---|---|---|",
    ]
    complete = True
    for name, title in (("no_limit", "no limit"), ("org_limit", "the org limit")):
        case = burst[name]
        complete = complete and case["stored_after_next_process"] == case["made"]
        lines.append(
            f"| {title} | {case['stored_at_exit']:,} of {case['made']:,} | {case['spooled']:,} "
            f"| {case['failed']:,} | {case['stored_after_next_process']:,} |"
        )
    lines.append("")
    held = burst["org_limit"]["stored_after_next_process"]
    targets.append(
        [
            f"{burst['calls']:,}-call burst then exit: everything delivered",
            f"{held:,} of {burst['calls']:,} under the org limit, "
            f"{burst['no_limit']['stored_at_exit']:,} at exit with no limit",
            verdict(complete),
        ]
    )
    return lines


def _outage(outage: dict[str, Any], targets: list[list[str]]) -> list[str]:
    from report import failed, num, verdict

    if failed(outage):
        targets.append(["memory flat during an outage", "", verdict(None)])
        return [f"Outage not measured: {failed(outage)}", ""]
    samples = outage["samples"]
    rss = [s["rss_mb"] for s in samples]
    half = rss[len(rss) // 2 :]
    growth = max(half) - min(half) if half else 0.0
    stats = outage["stats"]
    lines = [
        f"**An outage**: the backend is down for {outage['seconds']:.0f} s while one process "
        f"makes {outage['rate']} traced calls a second ({outage['made']:,} in all); RSS "
        f"sampled {len(samples)} times: {num(rss[0])} MB at the start, {num(max(rss))} MB at "
        f"most, {num(growth)} MB of growth over the second half. What could not be sent "
        f"went to the spool ({stats.get('spooled', 0):,} logs spooled, "
        f"{stats.get('failed', 0):,} failed, {stats.get('dropped', 0):,} dropped); the "
        f"next process, with the backend back, left {outage['stored_after_next_process']:,} "
        "logs on the server.",
        "",
    ]
    flat = growth <= FLAT_OUTAGE_MB
    targets.append(
        [
            f"memory flat during a {outage['seconds'] / 60:.0f}-minute outage",
            f"{num(growth)} MB over the second half; {outage['stored_after_next_process']:,} "
            f"of {outage['made']:,} delivered after",
            verdict(flat and outage["stored_after_next_process"] == outage["made"]),
        ]
    )
    return lines
