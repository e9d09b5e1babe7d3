"""Fixtures for the HubSpot client tests: the limiter's Redis, a hand-moved clock, clients.

The simulator itself (`hubspot_simulator`) comes from tests/sync/conftest.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from sync.hubspot.client import HubSpotClient
from sync.hubspot.ratelimit import KEY_PREFIX
from sync.hubspot.settings import AccountSettings, RetryPolicy, Timeouts

# 2026-01-01T01:00:00Z: an hour past a UTC midnight.
T0 = 1_767_229_200.0


class FakeTime:
    """A clock the limiter reads and a sleep that moves it instead of waiting."""

    def __init__(self, start: float = T0) -> None:
        self.moment = start
        self.slept = 0.0
        self.on_sleep: list[Callable[[], None]] = []

    def __call__(self) -> float:
        return self.moment

    def sleep(self, seconds: float) -> None:
        self.moment += seconds
        self.slept += seconds
        for hook in list(self.on_sleep):
            hook()

    def advance(self, seconds: float) -> None:
        self.moment += seconds


def redis_url() -> str:
    from django.conf import settings

    return str(settings.REDIS_URL)


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url())
    yield client
    client.close()


@pytest.fixture
def limiter_key(redis_client: redis.Redis) -> Iterator[str]:
    """A limiter name of this test's own; its keys are deleted afterwards."""
    key = f"test-{uuid.uuid4().hex}"
    yield key
    keys = list(redis_client.scan_iter(match=f"{KEY_PREFIX}:{{{key}}}:*"))
    if keys:
        redis_client.delete(*keys)


def account(limiter_key: str, **changes: object) -> AccountSettings:
    """Account settings with a test token and this test's limiter."""
    fields: dict[str, object] = {"token": "test-token", "limiter_key": limiter_key, **changes}
    return AccountSettings(**fields)  # type: ignore[arg-type]  # test-chosen fields


@pytest.fixture
def make_client(limiter_key: str, hubspot_simulator: Any) -> Iterator[Callable[..., HubSpotClient]]:
    """Build clients of the simulator's account (this test's limiter), closed afterwards.

    Short timeouts and backoff keep fault tests fast; keyword arguments
    override any account setting.
    """
    made: list[HubSpotClient] = []

    def build(**changes: Any) -> HubSpotClient:
        fields: dict[str, Any] = {
            "token": hubspot_simulator.token,
            "base_url": hubspot_simulator.base_url,
            "limiter_key": limiter_key,
            "window_margin": 0.05,
            "timeouts": Timeouts(connect=2.0, read=2.0, write=2.0, pool=2.0),
            "retry": RetryPolicy(max_attempts=5, backoff_base=0.01, backoff_cap=0.05),
            **changes,
        }
        client = HubSpotClient(AccountSettings(**fields), redis_client=redis_url())
        made.append(client)
        return client

    yield build
    for client in made:
        client.close()
