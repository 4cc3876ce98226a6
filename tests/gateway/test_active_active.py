"""Active/active: two gateways, each paced at its share of the org's budget.

docs/fleet.md: with two gateways in front of one organization, each is given half of the
30 requests/min. Here the local server enforces an org limit of 4 bulk requests a minute
across keys, two gateways hold 2 each, and each is offered three full requests at once:
together they send the four the window allows, draw no 429, and keep the rest durable
and waiting (not failed) for their own window to move on.
"""

from __future__ import annotations

import time

from respan_otel.gateway import Gateway
from tests.gateway.conftest import TOKEN, gateway_exporter, org_limited, send_spans, wait_for

ORG_LIMIT, BATCH = 4, 10


def test_two_gateways_at_half_the_budget_each_never_draw_429(exporter, tmp_path):
    with org_limited(ORG_LIMIT, "active-active") as (local, limiter, dataset):
        gateways = []
        try:
            for name in ("a", "b"):
                directory = tmp_path / name
                held = gateway_exporter(
                    local,
                    dataset.id,
                    directory,
                    requests_per_minute=ORG_LIMIT / 2,  # its share of the org's budget
                    batch_size=BATCH,
                )
                gateway = Gateway(
                    directory=directory, tokens=[TOKEN], exporter=held, port=0, linger=0.05
                )
                gateways.append(gateway.start())
            for number, gateway in enumerate(gateways):
                send_spans(gateway.url, exporter, 3 * BATCH, first=number * 1_000)
            wait_for(lambda: limiter.allowed == ORG_LIMIT, timeout=30)
            time.sleep(3.0)  # a gateway over its share would send its third request now
            snapshots = [gateway.snapshot() for gateway in gateways]
        finally:
            for gateway in gateways:
                gateway.stop(timeout=5)
        assert limiter.refused == 0, f"{limiter.refused} requests drew 429"
        assert [entry.logs for entry in limiter.accepted] == [BATCH] * ORG_LIMIT
        for snapshot in snapshots:
            assert snapshot["delivered_rows"] == 2 * BATCH, snapshot
            assert snapshot["failed_rows"] == 0, snapshot
