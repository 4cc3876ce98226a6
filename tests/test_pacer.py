"""RequestPacer: at most N requests in any sliding window, adapting to 429s."""

from __future__ import annotations

import threading
import time

import pytest

from respan_otel._export._pacer import MARGIN_SECONDS, MIN_RATE, RequestPacer


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


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def take(pacer: RequestPacer) -> None:
    assert pacer.acquire(deadline=pacer._clock() + 0.001, stop=threading.Event())


def test_a_429_blocks_until_retry_after_and_halves_the_rate():
    clock = Clock()
    pacer = RequestPacer(30, clock=clock)
    pacer.rate_limited(5.0)
    assert pacer.wait_time() == 5.0
    assert pacer.rate == 15
    clock.now += 5.0
    assert pacer.wait_time() == 0


def test_a_429_blocks_even_when_pacing_is_off():
    clock = Clock()
    pacer = RequestPacer(0, clock=clock)
    pacer.rate_limited(2.0)
    assert pacer.wait_time() == 2.0
    assert pacer.rate == 0, "no client-side pacing is started by a 429"


def test_repeated_429s_bring_the_rate_to_a_share_and_successes_climb_back():
    pacer = RequestPacer(30, clock=Clock())
    for _ in range(4):
        pacer.rate_limited(0.0)
    assert pacer.rate == 30 / 16, "16 processes sharing the budget each settle near 1/16"
    for _ in range(200):
        pacer.succeeded()
    assert pacer.rate == 30, "never above the limit"


def test_the_rate_never_adapts_below_its_floor():
    pacer = RequestPacer(30, clock=Clock())
    for _ in range(100):
        pacer.rate_limited(0.0)
    assert pacer.rate == MIN_RATE


def test_fractional_rates_space_requests_out():
    clock = Clock()
    pacer = RequestPacer(0.5, clock=clock)
    take(pacer)
    assert pacer.wait_time() == pytest.approx(120 + MARGIN_SECONDS)
    clock.now += 120 + MARGIN_SECONDS
    take(pacer)


def test_at_the_limit_the_window_holds_exactly_the_limit_plus_a_margin():
    clock = Clock()
    pacer = RequestPacer(30, clock=clock)
    for _ in range(30):
        take(pacer)
    assert pacer.wait_time() == pytest.approx(60 + MARGIN_SECONDS)


def test_an_unused_slot_is_given_back():
    clock = Clock()
    pacer = RequestPacer(1, clock=clock)
    take(pacer)
    pacer.give_back()
    assert pacer.wait_time() == 0


def test_bad_rates_are_refused():
    with pytest.raises(ValueError, match="requests_per_minute"):
        RequestPacer(-1)
    with pytest.raises(ValueError, match="requests_per_minute"):
        RequestPacer(float("inf"))


def test_without_pacing_nothing_is_remembered():
    pacer = RequestPacer(0)
    stop = threading.Event()
    for _ in range(10_000):
        pacer.acquire(deadline=time.monotonic(), stop=stop)
    assert len(pacer._sent) == 0, "no timestamps kept when pacing is off"
