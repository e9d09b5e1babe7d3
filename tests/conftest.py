"""Shared fixtures: per-worker names so `pytest -n auto` runs never clash."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def worker_suffix(worker_id: str) -> str:
    """Return a suffix unique to this xdist worker ('main' without xdist)."""
    return worker_id


@pytest.fixture(scope="session")
def demo_database(
    worker_suffix: str, django_db_setup: None, django_db_blocker: pytest.FixtureRequest
) -> Iterator[str]:
    """Load the demo CRM into a database of this worker's own; drop it afterwards."""
    from services.demo import drop_database, load_demo

    name = f"sg_test_demo_{worker_suffix}"
    with django_db_blocker.unblock():  # type: ignore[attr-defined]
        drop_database(name)
        load_demo(name)
    yield name
    with django_db_blocker.unblock():  # type: ignore[attr-defined]
        drop_database(name)
