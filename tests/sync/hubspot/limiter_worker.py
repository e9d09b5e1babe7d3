"""A second process for the limiter tests: takes permits from a shared limiter, prints their times.

Usage: python -m tests.sync.hubspot.limiter_worker REDIS_URL KEY LIMIT WINDOW MARGIN COUNT START_AT
"""

from __future__ import annotations

import json
import sys
import time

from sync.hubspot.ratelimit import RateLimiter, redis_connect
from sync.hubspot.settings import AccountSettings, Timeouts


def main(argv: list[str]) -> None:
    url, key, limit, window, margin, count, start_at = argv
    settings = AccountSettings(
        token="test-token",
        limiter_key=key,
        burst_limit=int(limit),
        burst_window=float(window),
        window_margin=float(margin),
        timeouts=Timeouts(connect=1, read=1, write=1, pool=1),
    )
    limiter = RateLimiter(redis_connect(url), settings)
    time.sleep(max(0.0, float(start_at) - time.time()))
    granted = []
    for _ in range(int(count)):
        permit = limiter.acquire()
        granted.append(permit.granted_at)
        time.sleep(0.002)  # the request
        limiter.release(permit)
    sys.stdout.write(json.dumps(granted))


if __name__ == "__main__":
    main(sys.argv[1:])
