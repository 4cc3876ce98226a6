"""RequestPacer: at most N requests in any sliding window."""

from __future__ import annotations

import threading
import time

from respan_otel._export._pacer import RequestPacer


def test_allows_the_limit_then_waits_for_the_oldest_to_leave_the_window():
    pacer = RequestPacer(3, window=0.3)
    stop = threading.Event()
    started = time.monotonic()
    stamps = []
    for _ in range(7):
        assert pacer.acquire(deadline=time.monotonic() + 5, stop=stop)
        stamps.append(time.monotonic() - started)
    assert stamps[2] < 0.1, "the first three go at once"
    assert stamps[3] >= 0.3, "the fourth waits for the first to leave the window"
    assert stamps[6] >= 0.6
    for i in range(3, 7):
        assert stamps[i] - stamps[i - 3] >= 0.3 - 1e-3, "never more than 3 in any window"


def test_zero_means_no_pacing():
    pacer = RequestPacer(0)
    stop = threading.Event()
    assert all(pacer.acquire(deadline=time.monotonic(), stop=stop) for _ in range(1000))
    assert pacer.wait_time() == 0


def test_gives_up_when_the_wait_would_pass_the_deadline():
    pacer = RequestPacer(1, window=10)
    stop = threading.Event()
    assert pacer.acquire(deadline=time.monotonic() + 1, stop=stop)
    started = time.monotonic()
    assert not pacer.acquire(deadline=time.monotonic() + 1, stop=stop)
    assert time.monotonic() - started < 0.1, "it knows at once that it cannot make it"


def test_stop_cuts_the_wait_short():
    pacer = RequestPacer(1, window=10)
    stop = threading.Event()
    assert pacer.acquire(deadline=time.monotonic() + 60, stop=stop)
    threading.Timer(0.1, stop.set).start()
    started = time.monotonic()
    assert not pacer.acquire(deadline=time.monotonic() + 60, stop=stop)
    assert time.monotonic() - started < 1


def test_a_429_fills_the_window_until_retry_after():
    pacer = RequestPacer(30, window=60)
    pacer.note_rate_limited(5.0)
    assert 4.5 < pacer.wait_time() <= 5.0


def test_the_real_window_has_a_safety_margin():
    assert RequestPacer(30).window > 60


def test_without_pacing_nothing_is_remembered():
    pacer = RequestPacer(0)
    stop = threading.Event()
    for _ in range(10_000):
        pacer.acquire(deadline=time.monotonic(), stop=stop)
    assert len(pacer._sent) == 0, "no timestamps kept when pacing is off"
