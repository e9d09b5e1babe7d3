"""Fixtures of the event script tests: the writes service, scripts, and clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from django.conf import settings
from django.core.cache import cache

from services.scripting.host import store_prefix
from services.scripting.models import EventScript
from services.scripting.schedule import schedule_script
from services.scripting.state import forget_scripts
from tests.services.api import conftest as api_conftest
from tests.services.api import writes_support

admin_key = api_conftest.admin_key
writes_database = writes_support.writes_database
writes_clean = writes_support.writes_clean
writes_service = writes_support.writes_service
wapi = writes_support.wapi
make_writer = writes_support.make_writer


def redis_client() -> redis.Redis:
    return redis.Redis.from_url(str(settings.REDIS_URL))


@pytest.fixture(autouse=True)
def _fresh_scripts() -> Iterator[None]:
    """Each test starts with no cached scripts and an empty script store."""
    forget_scripts()
    clear_script_store()
    yield
    forget_scripts()


def clear_script_store() -> None:
    """Delete every script store key of this test run's installation (no other's)."""
    client = redis_client()
    for key in client.scan_iter(match=cache.make_key(store_prefix() + "*")):
        client.delete(key)


@pytest.fixture
def make_script(db: None) -> Callable[..., EventScript]:
    """Save a script (validated as the admin does) and schedule it; return it."""

    def build(name: str, source: str, **fields: Any) -> EventScript:
        script = EventScript(name=name, source=source, **fields)
        script.full_clean()
        script.save()
        schedule_script(script)
        forget_scripts()
        return script

    return build


target_service = api_conftest.target_service
api = api_conftest.api
