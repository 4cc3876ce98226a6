"""RequestPacer: at most N requests in any sliding window, adapting to 429s."""

from __future__ import annotations

import threading
import time

import pytest

from respan_otel._export._pacer import MARGIN_SECONDS, MIN_RATE, RequestPacer
from respan_otel.local._server_state import RateLimiter


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
    clock = Clock()
    pacer = RequestPacer(30, clock=clock)
    for _ in range(4):
        pacer.rate_limited(0.0)
        clock.now += 60.0
    assert pacer.rate == 30 / 16, "16 processes sharing the budget each settle near 1/16"
    for _ in range(200):
        pacer.succeeded()
    assert pacer.rate == 30, "never above the limit"


def test_the_rate_never_adapts_below_its_floor():
    clock = Clock()
    pacer = RequestPacer(30, clock=clock)
    for _ in range(100):
        pacer.rate_limited(0.0)
        clock.now += 60.0
    assert pacer.rate == MIN_RATE


def test_429s_within_one_window_halve_the_rate_once():
    clock = Clock()
    pacer = RequestPacer(30, clock=clock)
    for _ in range(5):  # slots freeing one by one: a 429 between each
        pacer.rate_limited(1.0)
        clock.now += 1.0
    assert pacer.rate == 15
    clock.now += 60.0
    pacer.rate_limited(1.0)
    assert pacer.rate == 7.5, "a window later, a 429 says something new"


@pytest.mark.parametrize("spacing", [0.05, 0.5, 1.0, 1.9])
def test_a_next_process_after_a_burst_sends_its_backlog_when_the_window_frees(spacing):
    """The burst then exit of issue 11: one process spent the organization's 30 requests,
    ``spacing`` seconds apart, and exited; the next one has 8 requests of spool to send
    within 90 s. The window frees a slot every ``spacing`` seconds from 60 s on, and each
    try between two slots draws a 429 (``Retry-After`` in whole seconds, as the local
    server, and Respan, answer): halving on each of them left the next process a rate of
    one request in 48 s, and 3 of its 8 requests sent (at 0.5 s)."""
    clock = Clock()
    server = RateLimiter(30, 60.0, clock)  # the local server's org window
    spent = clock.now
    for _ in range(30):
        assert server.acquire("org") is None
        clock.now += spacing
    pacer = RequestPacer(30, clock=clock)
    deadline, sent = clock.now + 90.0, 0
    while sent < 8:
        wait = pacer.wait_time()
        if wait > 0:  # what delivery does: a wait past the deadline ends the flush
            if clock.now + wait >= deadline:
                break
            clock.now += wait
            continue
        take(pacer)
        retry_after = server.acquire("org")
        clock.now += 0.08  # the request
        if retry_after is None:
            sent += 1
            pacer.succeeded()
        else:
            pacer.rate_limited(retry_after)
    assert sent == 8
    # the eighth slot frees at 60 + 7 * spacing; a Retry-After overshoots by under 1 s
    assert clock.now - spent < 60.0 + 7 * spacing + 1.0 + 0.1 * 8


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
