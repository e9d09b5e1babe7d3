"""The client under pressure: 429 storms, shared quotas, faults, retries and their bounds."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from sync.hubspot.client import HubSpotClient
from sync.hubspot.errors import (
    AmbiguousWriteError,
    AuthenticationError,
    DailyLimitReached,
    HubSpotUnavailable,
)
from sync.hubspot.settings import RetryPolicy, Timeouts
from sync.hubspot.types import CreateInput, Filter, SearchRequest, UpsertInput
from tests.sync.hubspot.conftest import redis_url

MakeClient = Callable[..., HubSpotClient]
ROOT = Path(__file__).resolve().parents[3]
FAST_RETRY = RetryPolicy(max_attempts=10, backoff_base=0.01, backoff_cap=0.05, locked_wait=0.05)


def upserts(prefix: str, count: int) -> list[UpsertInput]:
    return [
        UpsertInput(f"{prefix}{i}@example.com", "email", {"firstname": prefix})
        for i in range(count)
    ]


def contact_count(client: HubSpotClient) -> int:
    return sum(1 for _ in client.iter_objects("contacts"))


def test_a_429_storm_is_absorbed_without_failures_or_exceeding_the_limit(
    make_client: MakeClient, hubspot_simulator: Any
) -> None:
    hubspot_simulator.configure(
        burst_limit=10, burst_window_seconds=0.5, fault_rate=0.3, fault_modes=["429"], fault_seed=3
    )
    client = make_client(burst_limit=10, burst_window=0.5, batch_size=5)
    result = client.batch_upsert("contacts", upserts("storm", 60))
    assert not result.failed
    stats = hubspot_simulator.stats()
    storms = stats["faults"]["injected"]["429"]
    assert storms >= 3
    assert client.stats().rate_limited == storms
    assert result.requests == 12  # a 429 is absorbed, not a request of the result
    assert stats["max_requests_in_window"] <= 10
    assert contact_count(client) == 60


def test_a_limit_lower_than_configured_is_learned_from_the_headers(
    make_client: MakeClient, hubspot_simulator: Any
) -> None:
    hubspot_simulator.configure(burst_limit=4, burst_window_seconds=0.5)
    client = make_client(burst_limit=100, burst_window=10.0, batch_size=1)
    started = time.monotonic()
    result = client.batch_upsert("contacts", upserts("learn", 14))
    assert not result.failed
    stats = hubspot_simulator.stats()
    assert stats["rate_limited"] == 0
    assert stats["max_requests_in_window"] <= 4
    # 14 requests at 4 per window: three waits of about one window each, not more.
    assert time.monotonic() - started < 3.5


def test_quota_used_by_another_client_of_the_token_slows_us_down(
    make_client: MakeClient, hubspot_simulator: Any
) -> None:
    hubspot_simulator.configure(burst_limit=10, burst_window_seconds=1.0)
    headers = {"Authorization": f"Bearer {hubspot_simulator.token}"}
    with httpx.Client(base_url=hubspot_simulator.base_url, headers=headers) as other:
        for _ in range(6):
            assert other.get("/crm/v3/objects/contacts").status_code == 200
    client = make_client(burst_limit=10, burst_window=1.0, batch_size=1)
    result = client.batch_upsert("contacts", upserts("shared", 8))
    assert not result.failed
    stats = hubspot_simulator.stats()
    assert stats["rate_limited"] == 0
    assert stats["max_requests_in_window"] <= 10


def test_a_429_waits_for_retry_after_then_succeeds(
    make_client: MakeClient, hubspot_simulator: Any
) -> None:
    hubspot_simulator.configure(burst_limit=3, burst_window_seconds=1.0, retry_after_on_429=True)
    headers = {"Authorization": f"Bearer {hubspot_simulator.token}"}
    with httpx.Client(base_url=hubspot_simulator.base_url, headers=headers) as other:
        for _ in range(3):
            assert other.get("/crm/v3/objects/contacts").status_code == 200
    client = make_client(burst_limit=3, burst_window=1.0)
    started = time.monotonic()
    result = client.batch_upsert("contacts", upserts("patient", 2))
    assert len(result.succeeded) == 2
    assert client.stats().rate_limited == 1
    assert hubspot_simulator.stats()["rate_limited_by_policy"] == {"TEN_SECONDLY_ROLLING": 1}
    assert time.monotonic() - started >= 1.0  # the simulator's Retry-After: 1


def test_a_429_without_retry_after_pauses_for_hubspots_interval(
    make_client: MakeClient, hubspot_simulator: Any
) -> None:
    # An injected 429: HubSpot's headers still show the window nearly empty.
    hubspot_simulator.configure(burst_window_seconds=0.8, fault_script=["429"])
    client = make_client(burst_window=0.8)
    started = time.monotonic()
    assert client.batch_upsert("contacts", upserts("paused", 1)).succeeded
    assert time.monotonic() - started >= 0.8
    assert client.stats().rate_limited == 1


def test_two_processes_on_one_account_absorb_a_storm_within_the_limit(
    limiter_key: str, hubspot_simulator: Any, make_client: MakeClient
) -> None:
    limit, window = 8, 0.5
    hubspot_simulator.configure(
        burst_limit=limit,
        burst_window_seconds=window,
        fault_rate=0.2,
        fault_modes=["429"],
        fault_seed=11,
    )
    start_at = time.time() + 2.5
    common = [hubspot_simulator.base_url, hubspot_simulator.token, redis_url(), limiter_key]
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.sync.hubspot.client_worker",
                *common,
                str(limit),
                str(window),
                prefix,
                "30",
                str(start_at),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for prefix in ("left", "right")
    ]
    summaries = []
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        summaries.append(json.loads(out))
    assert [summary["failed"] for summary in summaries] == [0, 0]
    stats = hubspot_simulator.stats()
    assert (
        sum(summary["rate_limited"] for summary in summaries) == stats["faults"]["injected"]["429"]
    )
    assert stats["max_requests_in_window"] <= limit
    assert contact_count(make_client()) == 60


def test_5xx_locks_timeouts_and_dropped_connections_are_retried_until_success(
    make_client: MakeClient, hubspot_simulator: Any
) -> None:
    faults = ["502", "503", "500", "504", "423", "477", "timeout", "drop", "drop_after"]
    hubspot_simulator.configure(
        fault_script=faults, fault_timeout_seconds=1.0, fault_retry_after_seconds=0
    )
    client = make_client(
        timeouts=Timeouts(connect=1.0, read=0.3, write=1.0, pool=1.0), retry=FAST_RETRY
    )
    result = client.batch_upsert("contacts", upserts("retry", 3))
    assert len(result.succeeded) == 3
    assert client.stats().retries == len(faults)
    assert hubspot_simulator.stats()["faults"]["script_left"] == []
    # `drop_after` wrote the records before cutting the connection: the retry updated them.
    assert contact_count(client) == 3


def test_retries_are_bounded_then_fail_clearly(
    make_client: MakeClient, hubspot_simulator: Any
) -> None:
    hubspot_simulator.configure(fault_rate=1.0, fault_modes=["502"])
    client = make_client(retry=RetryPolicy(max_attempts=3, backoff_base=0.01, backoff_cap=0.02))
    with pytest.raises(HubSpotUnavailable) as raised:
        client.batch_upsert("contacts", upserts("never", 2))
    assert raised.value.attempts == 3
    assert "502" in str(raised.value)
    assert hubspot_simulator.stats()["responses_by_status"] == {"502": 3}


def test_a_create_is_never_sent_twice_after_an_ambiguous_failure(
    make_client: MakeClient, hubspot_simulator: Any
) -> None:
    client = make_client(retry=FAST_RETRY)
    hubspot_simulator.configure(fault_script=["drop_after"])
    with pytest.raises(AmbiguousWriteError):
        client.batch_create("contacts", [CreateInput({"email": "maybe@example.com"})])
    assert contact_count(client) == 1  # HubSpot applied it; the client did not repeat it

    # A 503 proves nothing was applied: the create is sent again.
    hubspot_simulator.configure(fault_script=["503"], fault_retry_after_seconds=0)
    created = client.batch_create("contacts", [CreateInput({"email": "surely@example.com"})])
    assert created.succeeded
    assert contact_count(client) == 2


def test_retrying_ambiguous_creates_turns_the_repeat_into_a_conflict(
    make_client: MakeClient, hubspot_simulator: Any
) -> None:
    policy = RetryPolicy(backoff_base=0.01, backoff_cap=0.02, retry_ambiguous_creates=True)
    client = make_client(retry=policy)
    hubspot_simulator.configure(fault_script=["drop_after"])
    result = client.batch_create("contacts", [CreateInput({"email": "again@example.com"})])
    (outcome,) = result.outcomes
    assert outcome.error is not None
    assert outcome.error.category == "CONFLICT"
    existing = client.get_object("contacts", "again@example.com", id_property="email")
    assert existing is not None
    assert outcome.error.existing_id == existing.id
    assert contact_count(client) == 1


def test_a_wrong_token_fails_at_once_without_retries(
    make_client: MakeClient, hubspot_simulator: Any
) -> None:
    client = make_client(token="pat-na1-wrong", retry=FAST_RETRY)
    with pytest.raises(AuthenticationError) as raised:
        client.batch_upsert("contacts", upserts("nobody", 1))
    assert raised.value.error is not None
    assert raised.value.error.category == "INVALID_AUTHENTICATION"
    assert hubspot_simulator.stats()["responses_by_status"] == {"401": 1}


def test_a_daily_429_stops_every_further_request_today(
    make_client: MakeClient, hubspot_simulator: Any
) -> None:
    hubspot_simulator.configure(fault_script=["429_daily"])
    client = make_client(retry=FAST_RETRY)
    with pytest.raises(DailyLimitReached):
        client.batch_upsert("contacts", upserts("daily", 1))
    with pytest.raises(DailyLimitReached):
        client.list_objects("contacts")
    assert hubspot_simulator.stats()["requests"] == 1


def test_searches_keep_to_their_own_lower_limit(
    make_client: MakeClient, hubspot_simulator: Any
) -> None:
    hubspot_simulator.configure(search_limit=2, search_window_seconds=0.3, burst_limit=2)
    client = make_client(search_limit=2, search_window=0.3, burst_limit=2)
    request = SearchRequest(filter_groups=((Filter("email", "HAS_PROPERTY"),),))
    for _ in range(6):
        assert client.search("contacts", request).total == 0
    # Searches do not use up the burst window: two ordinary requests still go at once.
    client.list_objects("contacts")
    client.list_objects("contacts")
    stats = hubspot_simulator.stats()
    assert stats["rate_limited"] == 0
    assert client.stats().rate_limited == 0
