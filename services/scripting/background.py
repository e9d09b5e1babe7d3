"""Queued and scheduled script runs: what the Celery tasks call, and how a run is queued.

One rule: a queued run carries only plain data (the script's id, the event,
and the caller's ids), so it can be retried on another worker; the script is
read afresh there, and a script deleted or deactivated in the meantime does
not run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from rbac.authentication import principal_for
from rbac.policies import Principal
from rbac.state import current_state
from services.scripting.state import ScriptInfo, current_scripts

logger = logging.getLogger(__name__)


def identity_of(principal: Principal | None) -> dict[str, Any]:
    """The caller's ids (and token scopes) as plain data."""
    if principal is None:
        return {}
    return {
        "user_id": principal.user.id if principal.user else None,
        "app_id": principal.app.id if principal.app else None,
        "verbs": sorted(principal.verbs) if principal.verbs is not None else None,
    }


def principal_of(identity: Mapping[str, Any]) -> Principal | None:
    """The Principal named by `identity_of`'s data, as the configuration stands now."""
    if not identity:
        return None
    state = current_state()
    user_id, app_id, verbs = identity.get("user_id"), identity.get("app_id"), identity.get("verbs")
    user = state.user(int(user_id)) if user_id is not None else None
    app = state.apps_by_id.get(int(app_id)) if app_id is not None else None
    if user is not None and not user.is_active:
        return None
    return principal_for(
        state, user=user, app=app, verbs=frozenset(verbs) if verbs is not None else None
    )


def enqueue_queued(
    scripts: tuple[tuple[str, ScriptInfo], ...],
    event: Mapping[str, Any],
    principal: Principal | None,
) -> None:
    """Send one task per queued script; a broker failure is logged, never the caller's problem.

    Sent at once rather than on commit: the event's data lives in the
    target database, written through its own pool and already committed.
    """
    from services.scripting.tasks import run_queued_script

    identity = identity_of(principal)
    for name, info in scripts:
        try:
            run_queued_script.apply_async(args=(info.id, name, dict(event), identity))
        except Exception:
            logger.warning("could not queue event script %s", info.name, exc_info=True)


def queued_script_run(
    script_id: int, event_name: str, event: Mapping[str, Any], identity: Mapping[str, Any]
) -> str:
    """Run a queued script on its event; return the outcome ("ok", "aborted", "error", "gone")."""
    from services.scripting.runs import outcome_label, record_deferred, script_run

    info = current_scripts().by_id.get(script_id)
    if info is None:
        return "gone"
    try:
        outcome = script_run(info, event, principal=principal_of(identity), event_name=event_name)
    finally:
        record_deferred()  # runs of the scripts its platform.api calls fired
    return outcome_label(outcome)


def scheduled_script_run(script_id: int) -> str:
    """Run a scheduled script as its chosen app; return the outcome (or "gone")."""
    from services.scripting.runs import outcome_label, record_deferred, script_run

    info = current_scripts().by_id.get(script_id)
    if info is None:
        return "gone"
    principal = principal_of({"app_id": info.run_as_app_id}) if info.run_as_app_id else None
    event = {"request": None, "response": None, "resource": "", "schedule": info.name}
    try:
        outcome = script_run(info, event, principal=principal, event_name=info.name)
    finally:
        record_deferred()  # runs of the scripts its platform.api calls fired
    return outcome_label(outcome)
