"""Every process follows changes to the access configuration through the version in Redis."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.cache import cache

from rbac import state
from rbac.models import Role


@pytest.fixture(autouse=True)
def _own_version_key(monkeypatch: pytest.MonkeyPatch, worker_suffix: str) -> None:
    """Tests elsewhere publish versions too: these watch a key of their own."""
    monkeypatch.setattr(state, "VERSION_KEY", f"rbac:version:test:{worker_suffix}")
    cache.delete(state.VERSION_KEY)


def test_a_change_made_elsewhere_is_seen_once_the_version_moves(settings: Any, db: None) -> None:
    settings.SLUICEGATE_RBAC_CHECK_SECONDS = 0
    before = state.current_state()
    # Another process's change: rows written without this process's signals.
    Role.objects.bulk_create([Role(name="elsewhere")])
    assert state.current_state() is before  # same version: the state held is served
    assert "elsewhere" not in {role.name for role in state.current_state().roles.values()}
    state._bump()  # what the other process publishes on commit
    assert "elsewhere" in {role.name for role in state.current_state().roles.values()}


def test_the_state_is_served_from_memory_within_the_check_interval(settings: Any, db: None) -> None:
    settings.SLUICEGATE_RBAC_CHECK_SECONDS = 3600
    held = state.current_state()
    state._bump()
    assert state.current_state() is not held  # this process's own change: dropped at once
    held = state.current_state()
    cache.incr(state.VERSION_KEY)  # another process's change
    assert state.current_state() is held


def test_a_save_drops_this_process_state_and_publishes_on_commit(
    db: None, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    held = state.current_state()
    version = state.published_version()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        Role.objects.create(name="here")
        assert state.current_state() is not held  # dropped at once in this process
    assert callbacks
    assert state.published_version() != version
    assert "here" in {role.name for role in state.current_state().roles.values()}


def test_a_login_does_not_publish_a_change(
    db: None, django_user_model: Any, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    user = django_user_model.objects.create_user("logs-in", password="pw-1")
    with django_capture_on_commit_callbacks() as callbacks:
        user.save(update_fields=["last_login"])
    assert callbacks == []
