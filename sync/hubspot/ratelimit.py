"""The rate limiter of one HubSpot account, shared by every process through Redis.

One rule: no request leaves for HubSpot without a permit from `acquire`,
and every permit is given back with `release` once its answer (or failure)
is in; between the two, the request counts against the limit as if it were
still going on.

The limit is a sliding log (a sorted set of request times), not a token
bucket: HubSpot counts requests in a rolling window ("at most N in any 10
seconds"), and a bucket refilling at N per window lets 2N through in one
window (a full bucket, then its refill). A request is logged when it is
granted with a time in the future (now + the longest it can take), and
re-stamped when its answer arrives: HubSpot counted it at some moment
before that, so it leaves our window only after it has left HubSpot's. The
windows are widened by the account's `window_margin`; search's, at most by
`MARGIN_SHARE` of its window (0.25 s is 2.5% of the 10-second burst window
but a quarter of search's one second; since a request only leaves our log
after its answer, that margin need only absorb clock arithmetic, not latency).

Time is Redis's clock (`TIME` inside the scripts), so every process on every
host agrees on it; tests pass a clock of their own instead. Each call is one
Lua script, atomic, one round trip: `acquire` checks the pause set by a 429,
the daily count and every window that applies, and logs the request only
when all allow it; `release` re-stamps the request and applies what
HubSpot's headers say: `X-HubSpot-RateLimit-Max` / `-Interval-Milliseconds`
become a second window enforced alongside the configured one (for an hour
after they were last seen), and when `-Remaining` or `-Daily-Remaining` say
fewer requests remain than we count, phantom entries (or a higher daily
count) make up the difference, so we slow down. Search has a log of its own
with the account's search limit and no headers (HubSpot sends none); it is
exempt from the burst window, like at HubSpot, but counts against the day.

The daily count resets at midnight in the account's time zone. A day that
is used up raises `DailyLimitReached` rather than sleeping until midnight.
Redis failures raise `RateLimiterUnavailable`: without the limiter, no
request is sent.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import redis

from sync.hubspot.errors import DailyLimitReached, RateLimiterUnavailable
from sync.hubspot.settings import AccountSettings

Kind = Literal["burst", "search"]
KEY_PREFIX = "sg:hubspot"
# How long what the headers taught (HubSpot's own window and maximum) is remembered.
LEARNED_TTL = 3600.0
# A waiting caller looks again at least this often: an in-flight request may
# finish (and be re-stamped) sooner than its provisional time says.
MAX_POLL = 0.5

# Shared by both scripts: the current time in ms (Redis's clock unless given).
_NOW = """
local now = tonumber(ARGV[1])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
"""

# KEYS: log, pause, learned, day.
# ARGV: now, member, kind, margin, limit, window, daily limit, in-flight bound, day ttl (s).
# Times in ms. Returns {1, now, count} when granted, {0, wait, reason} when not.
ACQUIRE_SCRIPT = (
    _NOW
    + """
local margin, limit, window = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
if paused > now then return {0, paused - now, 'pause'} end
local daily = tonumber(ARGV[7])
local learned_daily = tonumber(redis.call('HGET', KEYS[3], 'daily') or '0')
if learned_daily > 0 and learned_daily < daily then daily = learned_daily end
if tonumber(redis.call('GET', KEYS[4]) or '0') >= daily then return {0, 0, 'daily'} end
local windows = {{limit, window + margin}}
if ARGV[3] == 'burst' then
  local lmax = tonumber(redis.call('HGET', KEYS[3], 'max') or '0')
  local lwin = tonumber(redis.call('HGET', KEYS[3], 'window') or '0')
  if lmax > 0 and lwin > 0 then table.insert(windows, {lmax, lwin + margin}) end
end
local longest = 0
for _, w in ipairs(windows) do if w[2] > longest then longest = w[2] end end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - longest)
local wait, count = 0, 0
for _, w in ipairs(windows) do
  local n = redis.call('ZCOUNT', KEYS[1], '(' .. (now - w[2]), '+inf')
  if n >= w[1] then
    -- the (n - limit + 1)-th oldest entry of this window must leave it first
    local entry = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. (now - w[2]), '+inf',
      'WITHSCORES', 'LIMIT', n - w[1], 1)
    local until_free = tonumber(entry[2]) + w[2] - now
    if until_free > wait then wait = until_free end
  end
  if n > count then count = n end
end
if wait > 0 then return {0, wait, 'window'} end
local in_flight = tonumber(ARGV[8])
redis.call('ZADD', KEYS[1], now + in_flight, ARGV[2])
redis.call('PEXPIRE', KEYS[1], math.ceil(in_flight + longest + 1000))
if redis.call('INCR', KEYS[4]) == 1 then redis.call('EXPIRE', KEYS[4], ARGV[9]) end
return {1, now, count + 1}
"""
)

# KEYS: log, pause, learned, day.
# ARGV: now, member, kind, margin, limit, window, daily limit, in-flight bound, day ttl (s),
#   remaining, max, interval, daily max, daily remaining (-1: no header), pause (ms),
#   day used up (0/1), learned ttl (ms).
# Returns the number of phantom entries added.
RELEASE_SCRIPT = (
    _NOW
    + """
local margin, limit, window = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local remaining, hmax, interval = tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12])
local daily_max, daily_remaining = tonumber(ARGV[13]), tonumber(ARGV[14])
local added = 0
redis.call('ZADD', KEYS[1], now, ARGV[2])
if ARGV[3] == 'burst' then
  if hmax > 0 and interval > 0 then
    redis.call('HSET', KEYS[3], 'max', hmax, 'window', interval)
    redis.call('PEXPIRE', KEYS[3], ARGV[17])
  end
  if remaining >= 0 then
    local n, w = limit, window
    if hmax > 0 then n = hmax end
    if interval > 0 then w = interval end
    local used = n - remaining
    local ours = redis.call('ZCOUNT', KEYS[1], '(' .. (now - w - margin), '+inf')
    while ours + added < used do
      added = added + 1
      redis.call('ZADD', KEYS[1], now, 'phantom:' .. ARGV[2] .. ':' .. added)
    end
  end
end
local pause = tonumber(ARGV[15])
if pause > 0 then
  local current = tonumber(redis.call('GET', KEYS[2]) or '0')
  if now + pause > current then redis.call('SET', KEYS[2], now + pause, 'PX', math.ceil(pause)) end
end
if daily_max > 0 then
  redis.call('HSET', KEYS[3], 'daily', daily_max)
  redis.call('PEXPIRE', KEYS[3], ARGV[17])
end
local day_limit = tonumber(ARGV[7])
if daily_max > 0 and daily_max < day_limit then day_limit = daily_max end
local target = -1
if ARGV[16] == '1' then
  target = day_limit
elseif daily_remaining >= 0 then
  local total = tonumber(ARGV[7])
  if daily_max > 0 then total = daily_max end
  target = total - daily_remaining
end
if target > tonumber(redis.call('GET', KEYS[4]) or '0') then
  redis.call('SET', KEYS[4], target, 'EX', ARGV[9])
end
local longest = window + margin
if interval + margin > longest then longest = interval + margin end
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[8]) + longest + 1000))
return added
"""
)


@dataclass(frozen=True, slots=True)
class Permit:
    """Leave to send one request: give it back with `RateLimiter.release`."""

    kind: Kind
    member: str
    granted_at: float  # seconds, on the limiter's clock
    day: str


@dataclass(frozen=True, slots=True)
class HeaderReading:
    """HubSpot's `X-HubSpot-RateLimit-*` headers of one answer (None: not sent)."""

    maximum: int | None = None
    remaining: int | None = None
    interval: float | None = None  # seconds
    daily: int | None = None
    daily_remaining: int | None = None

    @classmethod
    def of(cls, headers: Mapping[str, str]) -> HeaderReading:
        """Read the headers (names are case-insensitive in httpx's Headers; lower-cased here)."""
        lowered = {name.lower(): value for name, value in headers.items()}

        def number(name: str) -> int | None:
            value = lowered.get(f"x-hubspot-ratelimit-{name}")
            try:
                return int(value) if value is not None else None
            except ValueError:
                return None

        interval = number("interval-milliseconds")
        return cls(
            maximum=number("max"),
            remaining=number("remaining"),
            interval=interval / 1000 if interval else None,
            daily=number("daily"),
            daily_remaining=number("daily-remaining"),
        )


@dataclass(frozen=True, slots=True)
class Usage:
    """What the limiter counts right now (for tests, the admin and run statistics)."""

    in_window: int
    today: int
    paused_for: float


MARGIN_SHARE = 0.025


def margin_for(kind: Kind, margin: float, window: float) -> float:
    """The margin a window is widened by: the account's; search's at most MARGIN_SHARE of it."""
    return margin if kind == "burst" else min(margin, window * MARGIN_SHARE)


def _ms(seconds: float) -> int:
    return math.ceil(seconds * 1000)


def _header(value: int | float | None) -> int:
    return -1 if value is None else math.ceil(value)


class RateLimiter:
    """One HubSpot account's limits, counted in Redis for every process that uses the account.

    `clock` (seconds) replaces Redis's clock and `sleep` the waiting, for tests.
    """

    def __init__(
        self,
        client: redis.Redis,
        settings: AccountSettings,
        *,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_poll: float = MAX_POLL,
    ) -> None:
        self.settings = settings
        self.redis = client
        self.clock = clock
        self.sleep = sleep
        self.max_poll = max_poll
        self._waited = 0.0
        self._waited_lock = threading.Lock()
        base = f"{KEY_PREFIX}:{{{settings.limiter_name}}}"  # one hash slot per account
        self.prefix = base
        self._acquire = client.register_script(ACQUIRE_SCRIPT)
        self._release = client.register_script(RELEASE_SCRIPT)
        self._zone = ZoneInfo(settings.timezone)

    # --- keys and arguments -------------------------------------------------------

    def _keys(self, kind: Kind, day: str) -> list[str]:
        return [
            f"{self.prefix}:{kind}:log",
            f"{self.prefix}:{kind}:pause",
            f"{self.prefix}:learned",
            f"{self.prefix}:day:{day}",
        ]

    def _today(self) -> tuple[str, int]:
        """The account's current day, and the seconds its counter is kept (past its midnight)."""
        moment = datetime.fromtimestamp(self.clock() if self.clock else time.time(), self._zone)
        midnight = datetime.combine(moment.date() + timedelta(days=1), datetime.min.time())
        left = midnight.replace(tzinfo=self._zone).timestamp() - moment.timestamp()
        return moment.date().isoformat(), math.ceil(left) + 3600

    def next_midnight(self) -> float:
        """When the daily limit resets (seconds since the epoch)."""
        moment = datetime.fromtimestamp(self.clock() if self.clock else time.time(), self._zone)
        midnight = datetime.combine(moment.date() + timedelta(days=1), datetime.min.time())
        return midnight.replace(tzinfo=self._zone).timestamp()

    def _common(self, kind: Kind, member: str, day_ttl: int) -> list[Any]:
        s = self.settings
        limit, window = (
            (s.burst_limit, s.burst_window)
            if kind == "burst"
            else (s.search_limit, s.search_window)
        )
        now = _ms(self.clock()) if self.clock else -1
        return [
            now,
            member,
            kind,
            _ms(margin_for(kind, s.window_margin, window)),
            limit,
            _ms(window),
            s.daily_limit,
            _ms(s.timeouts.total),
            day_ttl,
        ]

    @property
    def waited(self) -> float:
        """Seconds this limiter has made its callers wait so far."""
        with self._waited_lock:
            return self._waited

    # --- the two calls --------------------------------------------------------------

    def acquire(self, kind: Kind = "burst") -> Permit:
        """Wait (blocking) until a request of `kind` may be sent; return its permit.

        Raises DailyLimitReached when the account's day is used up, and
        RateLimiterUnavailable when Redis fails.
        """
        member = uuid.uuid4().hex
        while True:
            day, day_ttl = self._today()
            try:
                granted, value, _reason = self._acquire(
                    keys=self._keys(kind, day), args=self._common(kind, member, day_ttl)
                )
            except redis.RedisError as error:
                raise RateLimiterUnavailable(str(error)) from error
            if int(granted):
                return Permit(kind, member, int(value) / 1000, day)
            if _reason in (b"daily", "daily"):
                raise DailyLimitReached(resets_at=self.next_midnight())
            wait = min(int(value) / 1000, self.max_poll)
            with self._waited_lock:
                self._waited += wait
            self.sleep(wait)

    def release(
        self,
        permit: Permit,
        *,
        headers: Mapping[str, str] | None = None,
        pause: float = 0.0,
        day_used_up: bool = False,
    ) -> int:
        """Give a permit back once its request has an answer or has failed.

        `headers` are the answer's (their rate-limit readings correct the
        counts); `pause` (seconds) stops every process's requests of this
        kind that long, after a 429; `day_used_up` after a DAILY 429.
        Returns how many phantom requests the headers added. Raises
        RateLimiterUnavailable when Redis fails.
        """
        reading = HeaderReading.of(headers) if headers is not None else HeaderReading()
        _day, day_ttl = self._today()
        args = [
            *self._common(permit.kind, permit.member, day_ttl),
            _header(reading.remaining),
            _header(reading.maximum),
            _header(None if reading.interval is None else reading.interval * 1000),
            _header(reading.daily),
            _header(reading.daily_remaining),
            _ms(pause),
            "1" if day_used_up else "0",
            _ms(LEARNED_TTL),
        ]
        try:
            return int(self._release(keys=self._keys(permit.kind, permit.day), args=args))
        except redis.RedisError as error:
            raise RateLimiterUnavailable(str(error)) from error

    # --- inspection -----------------------------------------------------------------

    def usage(self, kind: Kind = "burst") -> Usage:
        """Requests counted in the configured window now, today's count, and the pause left."""
        s = self.settings
        window = s.burst_window if kind == "burst" else s.search_window
        day, _ttl = self._today()
        log, pause, _learned, counter = self._keys(kind, day)
        now = self.clock() if self.clock else _redis_now(self.redis)
        try:
            in_window = int(
                self.redis.zcount(
                    log, f"({_ms(now - window - margin_for(kind, s.window_margin, window))}", "+inf"
                )
            )
            today = int(self.redis.get(counter) or 0)
            paused = int(self.redis.get(pause) or 0)
        except redis.RedisError as error:
            raise RateLimiterUnavailable(str(error)) from error
        return Usage(in_window, today, max(0.0, paused / 1000 - now))

    def forget(self) -> int:
        """Delete every key of this account's limiter; return how many there were."""
        try:
            keys = list(self.redis.scan_iter(match=f"{_glob_escape(self.prefix)}:*", count=1000))
            return int(self.redis.delete(*keys)) if keys else 0
        except redis.RedisError as error:
            raise RateLimiterUnavailable(str(error)) from error


def _redis_now(client: redis.Redis) -> float:
    seconds, micros = client.time()
    return int(seconds) + int(micros) / 1_000_000


def _glob_escape(text: str) -> str:
    return "".join(f"\\{char}" if char in "*?[]\\" else char for char in text)


def redis_connect(url: str) -> redis.Redis:
    """A Redis client for limiters, with short timeouts (a hung Redis must not hang a sync)."""
    return redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
