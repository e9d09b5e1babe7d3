"""The shared HubSpot rate limiter, on real Redis: windows, in-flight requests, headers, days."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis

from sync.hubspot.errors import DailyLimitReached, RateLimiterUnavailable
from sync.hubspot.ratelimit import HeaderReading, RateLimiter
from sync.hubspot.settings import Timeouts
from tests.sync.hubspot.conftest import FakeTime, account, redis_url

ROOT = Path(__file__).resolve().parents[3]


def limiter_of(
    redis_client: redis.Redis, key: str, clock: FakeTime | None, **changes: object
) -> RateLimiter:
    settings = account(key, window_margin=0.0, **changes)
    if clock is None:
        return RateLimiter(redis_client, settings)
    return RateLimiter(redis_client, settings, clock=clock, sleep=clock.sleep)


def headers(**values: int) -> dict[str, str]:
    names = {
        "maximum": "X-HubSpot-RateLimit-Max",
        "remaining": "X-HubSpot-RateLimit-Remaining",
        "interval": "X-HubSpot-RateLimit-Interval-Milliseconds",
        "daily": "X-HubSpot-RateLimit-Daily",
        "daily_remaining": "X-HubSpot-RateLimit-Daily-Remaining",
    }
    return {names[name]: str(value) for name, value in values.items()}


def busiest_window(granted: list[float], window: float) -> int:
    """The most grants in any window of `window` seconds (in whole ms, as the limiter counts)."""
    stamps = sorted(round(moment * 1000) for moment in granted)
    span = round(window * 1000)
    return max(sum(1 for other in stamps if start <= other < start + span) for start in stamps)


def take(limiter: RateLimiter, count: int) -> list[float]:
    """Acquire and release `count` permits; return when each was granted (from the start)."""
    times = []
    for _ in range(count):
        permit = limiter.acquire()
        times.append(permit.granted_at)
        limiter.release(permit)
    return times


def test_window_admits_the_limit_then_waits_for_the_oldest_to_leave(
    redis_client: redis.Redis, limiter_key: str, fake_time: FakeTime
) -> None:
    limiter = limiter_of(redis_client, limiter_key, fake_time, burst_limit=5, burst_window=10.0)
    first = take(limiter, 5)
    assert first == [fake_time.moment] * 5
    assert fake_time.slept == 0
    fake_time.advance(3)
    start = fake_time.moment
    (sixth,) = take(limiter, 1)
    # The five left the window 10 s after they were released at `start - 3`.
    assert sixth == pytest.approx(start - 3 + 10)
    assert limiter.usage().in_window == 1
    assert limiter.usage().today == 6


def test_a_request_in_flight_counts_until_released_then_for_a_whole_window(
    redis_client: redis.Redis, limiter_key: str, fake_time: FakeTime
) -> None:
    limiter = limiter_of(
        redis_client,
        limiter_key,
        fake_time,
        burst_limit=1,
        burst_window=10.0,
        timeouts=Timeouts(connect=10, read=60, write=10, pool=10),
    )
    start = fake_time.moment
    slow = limiter.acquire()

    def answer_arrives() -> None:
        if fake_time.moment >= start + 25 and fake_time.on_sleep:
            fake_time.on_sleep.clear()
            limiter.release(slow)

    fake_time.on_sleep.append(answer_arrives)
    second = limiter.acquire()
    # Granted only a full window after the slow request's answer came, 25 s in.
    assert second.granted_at == pytest.approx(start + 35, abs=0.01)


def test_fewer_remaining_in_the_headers_slow_us_down(
    redis_client: redis.Redis, limiter_key: str, fake_time: FakeTime
) -> None:
    limiter = limiter_of(redis_client, limiter_key, fake_time, burst_limit=10, burst_window=10.0)
    permit = limiter.acquire()
    # HubSpot counted 8 in its window (someone else used the token too); we counted 1.
    added = limiter.release(permit, headers=headers(maximum=10, remaining=2, interval=10_000))
    assert added == 7
    start = fake_time.moment
    times = take(limiter, 3)
    assert times[:2] == [start, start]
    assert times[2] == pytest.approx(start + 10)


def test_more_remaining_in_the_headers_than_we_count_changes_nothing(
    redis_client: redis.Redis, limiter_key: str, fake_time: FakeTime
) -> None:
    limiter = limiter_of(redis_client, limiter_key, fake_time, burst_limit=3, burst_window=10.0)
    permit = limiter.acquire()
    assert limiter.release(permit, headers=headers(maximum=3, remaining=3, interval=10_000)) == 0
    assert take(limiter, 2) == [fake_time.moment] * 2
    assert limiter.usage().in_window == 3


def test_headers_teach_a_window_enforced_alongside_the_configured_one(
    redis_client: redis.Redis, limiter_key: str, fake_time: FakeTime
) -> None:
    limiter = limiter_of(redis_client, limiter_key, fake_time, burst_limit=100, burst_window=10.0)
    permit = limiter.acquire()
    limiter.release(permit, headers=headers(maximum=3, remaining=2, interval=1_000))
    start = fake_time.moment
    times = take(limiter, 5)
    # HubSpot allows 3 a second: two more now, then one a second later per freed slot.
    assert times == [start, start, start + 1, start + 1, start + 1]
    # Another process with the same account learns it from Redis, not from its own answers.
    other = limiter_of(redis_client, limiter_key, fake_time, burst_limit=100, burst_window=10.0)
    before = fake_time.moment
    assert other.acquire().granted_at == pytest.approx(before + 1)


def test_two_processes_sharing_an_account_never_exceed_the_limit(limiter_key: str) -> None:
    limit, window, per_process = 8, 0.5, 20
    start_at = time.time() + 2.0
    args = [redis_url(), limiter_key, str(limit), str(window), "0.01", str(per_process)]
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.sync.hubspot.limiter_worker", *args, str(start_at)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    granted: list[float] = []
    for worker in workers:
        out, err = worker.communicate(timeout=60)
        assert worker.returncode == 0, err
        granted += json.loads(out)
    granted.sort()
    assert len(granted) == 2 * per_process
    assert (
        busiest_window(granted, window) == limit
    )  # never more, and the limit was reached: no needless slowness
    # 40 permits at 8 per 0.5 s need 4 more windows after the first burst; not many more.
    assert granted[-1] - granted[0] < 4 * (window + 0.01) + 1.0


def test_pause_after_a_429_holds_every_process_of_the_account(
    redis_client: redis.Redis, limiter_key: str, fake_time: FakeTime
) -> None:
    limiter = limiter_of(redis_client, limiter_key, fake_time, burst_limit=100)
    permit = limiter.acquire()
    limiter.release(permit, pause=2.0)
    other = limiter_of(redis_client, limiter_key, fake_time, burst_limit=100)
    start = fake_time.moment
    assert other.acquire().granted_at == pytest.approx(start + 2.0)
    assert other.usage().paused_for == 0


def test_daily_limit_stops_until_the_accounts_midnight(
    redis_client: redis.Redis, limiter_key: str, fake_time: FakeTime
) -> None:
    limiter = limiter_of(
        redis_client, limiter_key, fake_time, daily_limit=3, timezone="Europe/Amsterdam"
    )
    take(limiter, 3)
    with pytest.raises(DailyLimitReached) as raised:
        limiter.acquire()
    # 01:00 UTC on 1 January is 02:00 in Amsterdam: its midnight is 22 hours away.
    assert raised.value.resets_at == pytest.approx(fake_time.moment + 22 * 3600)
    fake_time.advance(22 * 3600 + 1)
    assert len(take(limiter, 1)) == 1


def test_daily_remaining_header_lowers_what_is_left_today(
    redis_client: redis.Redis, limiter_key: str, fake_time: FakeTime
) -> None:
    limiter = limiter_of(redis_client, limiter_key, fake_time, daily_limit=1000)
    permit = limiter.acquire()
    limiter.release(permit, headers=headers(daily=1000, daily_remaining=1))
    assert limiter.usage().today == 999
    take(limiter, 1)
    with pytest.raises(DailyLimitReached):
        limiter.acquire()


def test_a_daily_429_uses_up_the_day(
    redis_client: redis.Redis, limiter_key: str, fake_time: FakeTime
) -> None:
    limiter = limiter_of(redis_client, limiter_key, fake_time, daily_limit=1000)
    limiter.release(limiter.acquire(), day_used_up=True)
    with pytest.raises(DailyLimitReached):
        limiter.acquire("search")


def test_search_has_its_own_window_and_skips_the_burst_one(
    redis_client: redis.Redis, limiter_key: str, fake_time: FakeTime
) -> None:
    limiter = limiter_of(
        redis_client, limiter_key, fake_time, burst_limit=1, search_limit=2, search_window=1.0
    )
    take(limiter, 1)
    start = fake_time.moment
    searches = []
    for _ in range(3):
        permit = limiter.acquire("search")
        searches.append(permit.granted_at)
        limiter.release(permit)
    assert searches == [start, start, pytest.approx(start + 1)]
    assert limiter.usage("search").today == 4


def test_threads_of_one_process_share_the_limit(
    redis_client: redis.Redis, limiter_key: str
) -> None:
    limiter = limiter_of(redis_client, limiter_key, None, burst_limit=5, burst_window=0.4)
    granted: list[float] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(5):
            permit = limiter.acquire()
            with lock:
                granted.append(permit.granted_at)
            limiter.release(permit)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(granted) == 15
    assert busiest_window(granted, 0.4) == 5


def test_redis_down_refuses_to_send(limiter_key: str) -> None:
    dead = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    limiter = RateLimiter(dead, account(limiter_key))
    with pytest.raises(RateLimiterUnavailable):
        limiter.acquire()


def test_header_reading_ignores_missing_and_garbled_values() -> None:
    reading = HeaderReading.of(
        {"x-hubspot-ratelimit-remaining": "7", "X-HubSpot-RateLimit-Max": "ten"}
    )
    assert reading == HeaderReading(remaining=7)
