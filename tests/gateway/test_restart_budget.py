"""A restarted gateway remembers the requests it sent in the org's current window.

Respan counts an organisation's bulk requests in a sliding 60 s window. A gateway
killed (``kill -9``) right after spending the window and started again must not spend it
a second time: no 429 from the API, the new spans wait for the window to move on.
"""

from __future__ import annotations

import logging
import time

from respan_otel._export._pacer import RequestPacer
from respan_otel.gateway._sent import FILE_NAME
from tests.gateway.conftest import TOKEN, org_limited, send_spans, wait_for
from tests.gateway.process import GatewayProcess

LIMIT, BATCH = 3, 10


def test_restart_after_kill_9_does_not_spend_the_window_again(exporter, tmp_path):
    with org_limited(LIMIT, "restart") as (local, limiter, dataset):
        gateway = GatewayProcess(
            tmp_path / "gateway",
            {
                "RESPAN_API_KEY": local.api_key,
                "RESPAN_BASE_URL": local.base_url,
                "RESPAN_DATASET_ID": dataset.id,
                "RESPAN_GATEWAY_TOKENS": TOKEN,
                "RESPAN_REQUESTS_PER_MINUTE": str(LIMIT),
                "RESPAN_BATCH_SIZE": str(BATCH),
            },
        ).start()
        try:
            send_spans(gateway.url, exporter, LIMIT * BATCH)  # three full requests: the window
            wait_for(lambda: limiter.allowed == LIMIT, timeout=30)
            assert (tmp_path / "gateway" / FILE_NAME).exists()
            gateway.kill()
            gateway.start()
            # a full request, due at once but for the window
            send_spans(gateway.url, exporter, BATCH)
            wait_for(lambda: gateway.stats()["durable_spans"] == BATCH, timeout=30)
            time.sleep(5.0)  # a forgetful gateway sends (and draws its 429) well within this
            stats = gateway.stats()
        finally:
            gateway.stop()
        assert limiter.refused == 0, f"{limiter.refused} requests drew 429 after the restart"
        assert stats["delivered_rows"] == 0
        assert stats["failed_rows"] == 0, stats
        assert sum(entry.logs for entry in limiter.accepted) == LIMIT * BATCH


def test_seeded_pacer_waits_for_the_requests_of_the_last_run():
    pacer = RequestPacer(2)
    assert pacer.wait_time() == 0
    pacer.seed([50.0, 10.0])  # two requests, 50 s and 10 s ago: the window is spent
    assert 9.0 < pacer.wait_time() < 11.0  # until the older leaves the 60 s window
    pacer.seed([-1.0])  # a time in the future (clock skew) is ignored
    assert pacer.wait_time() < 11.0


def test_an_unreadable_request_log_is_reported_and_ignored(make_gateway, tmp_path, caplog):
    directory = tmp_path / "gateway"
    directory.mkdir()
    (directory / FILE_NAME).write_text("{not json")
    with caplog.at_level(logging.WARNING, logger="respan_otel"):
        gateway = make_gateway(directory=directory)
    assert gateway.readiness()["delivering"]
    assert any("may draw 429s" in record.getMessage() for record in caplog.records)
