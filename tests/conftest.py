"""Shared fixtures: per-worker names so `pytest -n auto` runs never clash."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def worker_suffix(worker_id: str) -> str:
    """Return a suffix unique to this run's platform database and xdist worker.

    Two runs against different DATABASE_URL database names, or two workers of
    one run, never share a demo or target database.
    """
    from django.conf import settings

    return f"{settings.DATABASES['default']['NAME']}_{worker_id}".lower()


@pytest.fixture
def client() -> Any:
    """Django's test client, routing requests as production does (`tests.client`)."""
    from tests.client import RoutedClient

    return RoutedClient()


@pytest.fixture(scope="session", autouse=True)
def _celery_queue_of_this_process() -> Iterator[str]:
    """Tasks go to this test process's own queue in the shared broker (`tests.queues`)."""
    from config.celery import app
    from tests.queues import TEST_QUEUE

    previous = app.conf.task_default_queue
    app.conf.task_default_queue = TEST_QUEUE
    yield TEST_QUEUE
    app.conf.task_default_queue = previous


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


def flush_audit_after_test_request(sender: Any, **kwargs: Any) -> None:
    """Django's test client closes its answers with no handler class: write the trail at once."""
    if sender is None:
        from rbac.audit import flush

        flush()


@pytest.fixture(scope="session", autouse=True)
def _audit_writer_released(django_db_setup: None, django_db_blocker: object) -> Iterator[None]:
    """Test requests' audit records are written when answered; what is still queued is
    written, and the writer's connection given back, before the test database is dropped."""
    from django.core.signals import request_finished

    from rbac.audit import writer

    request_finished.connect(flush_audit_after_test_request, dispatch_uid="tests-audit-flush")
    yield
    request_finished.disconnect(dispatch_uid="tests-audit-flush")
    with django_db_blocker.unblock():  # type: ignore[attr-defined]
        writer.release()


@pytest.fixture(autouse=True)
def _fresh_access_state() -> Iterator[None]:
    """Each test starts from the access configuration and services in its own database."""
    from rbac.state import forget_state
    from services.api.registry import forget_services

    forget_state()
    forget_services()
    yield
    forget_state()
    forget_services()


TARGET_SCHEMA = Path(__file__).parent / "fixtures" / "target_schema.sql"
POSTGIS_COLUMNS = (
    "CREATE EXTENSION IF NOT EXISTS postgis",
    "ALTER TABLE every_type ADD COLUMN c_geometry geometry(Point, 4326), "
    "ADD COLUMN c_geography geography(Point, 4326)",
    "UPDATE every_type SET c_geometry = 'SRID=4326;POINT(4.9 52.37)', "
    "c_geography = 'SRID=4326;POINT(4.9 52.37)' WHERE id = 1",
)


@contextmanager
def scratch_database(name: str, blocker: Any, statements: Sequence[str] = ()) -> Iterator[str]:
    """Create database `name` afresh, run `statements` in it, yield its name, drop it after.

    `blocker` is pytest-django's `django_db_blocker` (session fixtures may not
    touch the platform database otherwise).
    """
    import psycopg

    from config.database import platform_conninfo
    from services.demo import drop_database, ensure_database

    with blocker.unblock():
        drop_database(name)
        ensure_database(name)
        with psycopg.connect(platform_conninfo(dbname=name)) as conn:
            for statement in statements:
                conn.execute(statement.encode())
    try:
        yield name
    finally:
        with blocker.unblock():
            drop_database(name)


def postgis_available() -> bool:
    import psycopg

    from config.database import platform_conninfo

    # The maintenance database: this may run before the test databases exist.
    with psycopg.connect(platform_conninfo(dbname="postgres")) as conn:
        found = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'")
        return found.fetchone() is not None


@pytest.fixture(scope="session")
def target_database(
    worker_suffix: str, django_db_setup: None, django_db_blocker: Any
) -> Iterator[str]:
    """A database of this worker's own with every table shape and column type.

    Built from tests/fixtures/target_schema.sql, plus PostGIS columns
    (`every_type.c_geometry`, `c_geography`) when the extension is available.
    """
    with django_db_blocker.unblock():
        extra = POSTGIS_COLUMNS if postgis_available() else ()
    statements = (TARGET_SCHEMA.read_text(), *extra)
    with scratch_database(f"sg_test_target_{worker_suffix}", django_db_blocker, statements) as name:
        yield name
