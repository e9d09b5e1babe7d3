"""A second process for the client tests: upserts contacts through its own client, prints a summary.

Usage: python -m tests.sync.hubspot.client_worker
    BASE_URL TOKEN REDIS_URL KEY LIMIT WINDOW PREFIX COUNT START_AT
"""

from __future__ import annotations

import json
import sys
import time

from sync.hubspot.client import HubSpotClient
from sync.hubspot.settings import AccountSettings, RetryPolicy, Timeouts
from sync.hubspot.types import UpsertInput


def main(argv: list[str]) -> None:
    base_url, token, redis_url, key, limit, window, prefix, count, start_at = argv
    settings = AccountSettings(
        token=token,
        base_url=base_url,
        limiter_key=key,
        burst_limit=int(limit),
        burst_window=float(window),
        window_margin=0.05,
        batch_size=5,
        timeouts=Timeouts(connect=2, read=2, write=2, pool=2),
        retry=RetryPolicy(backoff_base=0.01, backoff_cap=0.05),
    )
    inputs = [
        UpsertInput(f"{prefix}{i}@example.com", "email", {"firstname": prefix})
        for i in range(int(count))
    ]
    time.sleep(max(0.0, float(start_at) - time.time()))
    with HubSpotClient(settings, redis_client=redis_url) as client:
        failed = 0
        for start in range(0, len(inputs), 5):
            failed += len(client.batch_upsert("contacts", inputs[start : start + 5]).failed)
        stats = client.stats()
    sys.stdout.write(
        json.dumps(
            {"failed": failed, "rate_limited": stats.rate_limited, "requests": stats.requests}
        )
    )


if __name__ == "__main__":
    main(sys.argv[1:])
