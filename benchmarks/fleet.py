"""Worker: delivery under the organization's shared limit, a burst at exit, an outage.

- ``fleet``: ``processes`` apps (separate interpreters, each ``configure()``-d as users do,
  sharing one spool directory) offer ``fraction`` of the ceiling together for
  ``seconds``, against ``LocalRespan`` emulating one organization-wide limit across all
  callers (``org_rate_limit_per_minute``). Counts what the server holds when the apps
  have exited, and after one more process replays the spool; the difference to what
  was offered is what was lost.
- ``burst``: one app makes ``calls`` traced calls and exits (bounded by the shutdown
  timeout); then a second process starts and flushes. Against the org limit (what does
  not fit the first window must wait in the spool) and against no limit at all.
- ``outage``: the backend is down for ``seconds`` while an app keeps producing ``rate``
  logs/s; RSS is sampled throughout (it must stay flat: the queue and what is held are
  bounded, the rest goes to the spool on disk). Then the backend comes back and the
  next process delivers the spool.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import common

from respan_otel import RespanClient
from respan_otel.local import LocalRespan

HERE = Path(__file__).resolve().parent
KEY = "sk-bench-fleet"

APP = textwrap.dedent(
    """
    import json, logging, os, sys, time
    sys.path.insert(0, {here!r})
    logging.disable(logging.WARNING)
    import respan_otel
    from respan_otel._export._pacer import RequestPacer
    from common import rss_mb
    from exporting import typical_call

    options = json.loads(sys.argv[1])
    handle = respan_otel.configure(batch_size=options["batch"])
    if options.get("window"):  # a shortened window (quick runs): the pacer follows it
        pacer = RequestPacer(options["limit"], window=options["window"])
        handle.exporter.delivery.pacer = handle.exporter.delivery.resolver.pacer = pacer
    started, made = time.monotonic(), 0
    next_sample = started
    while (now := time.monotonic()) < started + options["seconds"]:
        due = int((now - started) * options["rate"])
        while made < due:
            typical_call(made)
            made += 1
        if options.get("sample") and now >= next_sample:
            sample = {{"t": now - started, "rss_mb": rss_mb(), "made": made}}
            print(json.dumps(sample), flush=True)
            next_sample += options["sample"]
        time.sleep(0.01)
    for _ in range(options.get("calls", 0)):
        typical_call(made)
        made += 1
    if options.get("flush"):
        handle.flush(options["flush"])
    handle.shutdown()  # what exit does: bounded, the rest to the spool
    print(json.dumps({{"made": made, "stats": handle.stats}}), flush=True)
    """
)


def _server(org_limit: int | None, window: float, port: int = 0, db: str = ":memory:") -> Any:
    server = LocalRespan(api_key=KEY, port=port, db=db, org_rate_limit_per_minute=org_limit)
    server._rate_window_seconds = window
    return server.start()


def _env(base_url: str, dataset_id: str, spool: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RESPAN_", "OTEL_"))}
    return {
        **env,
        "RESPAN_API_KEY": KEY,
        "RESPAN_BASE_URL": base_url,
        "RESPAN_DATASET_ID": dataset_id,
        "RESPAN_SPOOL_DIR": spool,
        "RESPAN_REQUESTS_PER_MINUTE": extra.pop("rpm", "30"),
        **extra,
    }


def _app(options: dict[str, Any], env: dict[str, str]) -> subprocess.Popen[str]:
    code = APP.format(here=str(HERE))
    return subprocess.Popen(
        [sys.executable, "-c", code, json.dumps(options)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )


def _finish(app: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = app.communicate(timeout=900)
    lines = out.strip().splitlines()
    return json.loads(lines[-1]) if lines else {"made": 0, "stats": {}}


def _stored(server: LocalRespan, dataset_id: str) -> int:
    with RespanClient(KEY, server.base_url) as client:
        return int(client.datasets.get(dataset_id).log_count or 0)


def _replay(env: dict[str, str], seconds: float, window: float | None, limit: int) -> None:
    """The next process: configure, flush what the spool holds, exit."""
    options = {"batch": 500, "seconds": 0, "rate": 0, "flush": seconds, "limit": limit}
    if window:
        options["window"] = window
    _finish(_app(options, env))


def _sum_stats(results: list[dict[str, Any]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for result in results:
        for name, value in result["stats"].items():
            total[name] = total.get(name, 0) + value
    return total


def fleet(args: dict[str, Any]) -> dict[str, Any]:
    limit, window, batch = args["limit"], args["window"], args["batch"]
    ceiling = limit * batch / window
    rows = []
    for fraction in args["fractions"]:
        server = _server(limit, window)
        with RespanClient(KEY, server.base_url) as client:
            dataset_id = client.datasets.create(name="fleet").id
        server.limiter.allowed = server.limiter.refused = 0  # the set-up costs no slot
        spool = tempfile.mkdtemp(prefix="respan-bench-fleet-")
        env = _env(server.base_url, dataset_id, spool)
        per_app = fraction * ceiling / args["processes"]
        options = {"batch": batch, "seconds": args["seconds"], "rate": per_app, "limit": limit}
        if window != 60.0:
            options["window"] = window
        started = time.monotonic()
        apps = [_app(options, env) for _ in range(args["processes"])]
        results = [_finish(app) for app in apps]
        run_seconds = time.monotonic() - started
        offered = sum(r["made"] for r in results)
        at_exit = _stored(server, dataset_id)
        _replay(env, args["replay"], options.get("window"), limit)
        final = _stored(server, dataset_id)
        rows.append(
            {
                "fraction": fraction,
                "offered": offered,
                "offered_rate": offered / args["seconds"],
                "stored_at_exit": at_exit,
                "stored_final": final,
                "lost": offered - final,
                "run_seconds": run_seconds,
                "allowed": server.limiter.allowed,
                "refused_429": server.limiter.refused,
                "stats": _sum_stats(results),
            }
        )
        server.stop()
        shutil.rmtree(spool, ignore_errors=True)
    return {
        "processes": args["processes"],
        "limit": limit,
        "window": window,
        "batch": batch,
        "ceiling": ceiling,
        "seconds": args["seconds"],
        "rows": rows,
    }


def burst(args: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {"calls": args["calls"]}
    for name, limit in (("no_limit", None), ("org_limit", args["limit"])):
        server = _server(limit, args["window"])
        with RespanClient(KEY, server.base_url) as client:
            dataset_id = client.datasets.create(name="burst").id
        if server.limiter is not None:
            server.limiter.allowed = server.limiter.refused = 0
        spool = tempfile.mkdtemp(prefix="respan-bench-burst-")
        # the app's own pacing as users leave it: off against loopback with no limit set,
        # the API's 30 a minute when told the server limits
        env = _env(server.base_url, dataset_id, spool, rpm=str(limit or 0))
        options: dict[str, Any] = {"batch": args["batch"], "seconds": 0, "rate": 0}
        options |= {"calls": args["calls"], "limit": limit or 0}
        if limit and args["window"] != 60.0:
            options["window"] = args["window"]
        started = time.monotonic()
        first = _finish(_app(options, env))
        exit_seconds = time.monotonic() - started
        at_exit = _stored(server, dataset_id)
        started = time.monotonic()
        _replay(env, args["replay"], options.get("window"), limit or 0)
        result[name] = {
            "made": first["made"],
            "stored_at_exit": at_exit,
            "exit_seconds": exit_seconds,
            "spooled": first["stats"].get("spooled", 0),
            "failed": first["stats"].get("failed", 0),
            "stored_after_next_process": _stored(server, dataset_id),
            "next_process_seconds": time.monotonic() - started,
        }
        server.stop()
        shutil.rmtree(spool, ignore_errors=True)
    return result


def outage(args: dict[str, Any]) -> dict[str, Any]:
    db = tempfile.mkdtemp(prefix="respan-bench-outage-db-")
    server = _server(None, 60.0, db=str(Path(db) / "outage.db"))
    with RespanClient(KEY, server.base_url) as client:
        dataset_id = client.datasets.create(name="outage").id
    base_url = server.base_url
    port = int(base_url.rsplit(":", 1)[1])
    server.stop()  # down from here on
    # bound but not listening: connections are refused, and no other server (another
    # benchmark running alongside) can take the port meanwhile
    holder = socket.socket()
    holder.bind(("127.0.0.1", port))
    spool = tempfile.mkdtemp(prefix="respan-bench-outage-")
    env = _env(base_url, dataset_id, spool, rpm="0")
    code = APP.format(here=str(HERE))
    options = {"batch": 500, "seconds": args["seconds"], "rate": args["rate"]}
    options["sample"] = args["seconds"] / 20
    app = subprocess.Popen(
        [sys.executable, "-c", code, json.dumps(options)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    out, _ = app.communicate(timeout=args["seconds"] + 300)
    lines = [json.loads(line) for line in out.strip().splitlines() if line.startswith("{")]
    samples = [line for line in lines if "rss_mb" in line]
    final = lines[-1]
    holder.close()
    server = _server(None, 60.0, port=port, db=str(Path(db) / "outage.db"))
    _replay(env, args["replay"], None, 0)
    stored = _stored(server, dataset_id)
    server.stop()
    shutil.rmtree(spool, ignore_errors=True)
    shutil.rmtree(db, ignore_errors=True)
    return {
        "seconds": args["seconds"],
        "rate": args["rate"],
        "made": final["made"],
        "samples": samples,
        "stats": final["stats"],
        "stored_after_next_process": stored,
    }


def main() -> None:
    logging.disable(logging.WARNING)
    args = common.worker_args()
    common.emit({"fleet": fleet, "burst": burst, "outage": outage}[args["mode"]](args))


if __name__ == "__main__":
    main()
