"""Running one script in the sandbox, and keeping the record of its run.

One rule: every run, wherever it starts (a request, a worker, beat, the
admin's sample), goes through `script_run`, which records it — a served
request's runs after its response was sent, in batches (within about a
second); only the newest
`SLUICEGATE_SCRIPT_RUNS_KEPT` (default 50) runs of a script are kept.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from django.conf import settings
from django.core.signals import request_finished
from django.db import transaction
from django.db.models import Subquery

from rbac.audit import AuditWriter
from rbac.policies import Principal, lookups_for
from rbac.state import current_state
from services.scripting.host import PlatformHost
from services.scripting.sandbox import Limits, Outcome, run_script
from services.scripting.state import ScriptInfo

logger = logging.getLogger(__name__)

DEFAULT_RUNS_KEPT = 50
LOG_LIMIT = 16 * 1024
ERROR_LIMIT = 2000


def session_of(principal: Principal | None) -> dict[str, Any]:
    """`platform.session`: the user, app and role of the caller, and their lookups."""
    if principal is None:
        return {"user": None, "app": None, "role": None, "lookups": {}, "private_lookups": {}}
    user, app, role = principal.user, principal.app, principal.role
    state = current_state()
    public = lookups_for(state, principal)
    private = lookups_for(state, principal, private=True)
    return {
        "user": None
        if user is None
        else {
            "id": user.id,
            "username": user.username,
            "email": user.email,
            "display_name": user.display_name,
            "is_superuser": user.is_superuser,
        },
        "app": None if app is None else {"id": app.id, "name": app.name},
        "role": None if role is None else {"id": role.id, "name": role.name},
        "lookups": {str(key): str(value) for key, value in public.items()},
        "private_lookups": {
            str(key): str(value) for key, value in private.items() if key not in public
        },
    }


def outcome_label(outcome: Outcome) -> str:
    if outcome.error is not None:
        return "error"
    return "aborted" if outcome.abort is not None else "ok"


def record_runs(runs: Sequence[tuple[int, str, Outcome]]) -> None:
    """Keep the runs, then drop each script's runs older than its newest N (one transaction)."""
    from services.scripting.models import ScriptRun

    kept = int(getattr(settings, "SLUICEGATE_SCRIPT_RUNS_KEPT", DEFAULT_RUNS_KEPT))
    try:
        with transaction.atomic():
            ScriptRun.objects.bulk_create(
                [
                    ScriptRun(
                        script_id=script_id,
                        event_name=event_name[:300],
                        outcome=outcome_label(outcome),
                        duration_ms=outcome.duration_ms,
                        logs="\n".join(outcome.logs)[:LOG_LIMIT],
                        error=error_text(outcome)[:ERROR_LIMIT],
                    )
                    for script_id, event_name, outcome in runs
                ]
            )
            for script_id in {script_id for script_id, _name, _outcome in runs}:
                newest = ScriptRun.objects.filter(script_id=script_id).order_by("-pk")
                ScriptRun.objects.filter(
                    script_id=script_id, pk__lt=Subquery(newest.values("pk")[kept - 1 : kept])
                ).delete()
    except Exception:  # the record is for observing; a failure to keep it never fails a run
        logger.warning("could not record %d event script run(s)", len(runs), exc_info=True)


def error_text(outcome: Outcome) -> str:
    if outcome.abort is not None:
        return f"Abort {outcome.abort[0]}: {outcome.abort[1]}"
    return outcome.error or ""


def defer_run(script_id: int, event_name: str, outcome: Outcome) -> None:
    """Keep a run of the current request until its response has been sent."""
    runs: list[tuple[int, str, Outcome]] | None = getattr(_pending, "runs", None)
    if runs is None:
        runs = _pending.runs = []
    runs.append((script_id, event_name, outcome))


def record_deferred(sender: Any = None, **kwargs: Any) -> None:
    """`request_finished`: record the runs of the request whose response was just sent.

    Served by a web server (`sender` is its handler class), the runs join the
    process's batch, written off the request thread; otherwise (the test
    client, a Celery task) they are written at once.
    """
    runs = getattr(_pending, "runs", None)
    if runs:
        _pending.runs = []
        if sender is None:
            record_runs(runs)
        else:
            for run in runs:
                writer.put(run)


def record_batch(batch: Sequence[tuple[Any, ...]]) -> None:
    record_runs([(int(script_id), str(name), outcome) for script_id, name, outcome in batch])


# A commit costs far more than a no-op script, and concurrent pruning of one
# script's runs would make requests wait for each other's locks: runs of a
# served request are written once its response has gone out (Django sends
# `request_finished` when the server closes the response), in batches by one
# thread per process — as the audit trail is.
_pending = threading.local()
writer = AuditWriter(write=record_batch, name="sluicegate-script-runs")
atexit.register(writer.drain)
request_finished.connect(record_deferred, dispatch_uid="services.scripting.record_deferred")


def script_run(
    info: ScriptInfo,
    event: Mapping[str, Any],
    *,
    principal: Principal | None,
    event_name: str,
    deferred: bool = False,
    keep_changes: bool = True,
) -> Outcome:
    """Run `info`'s source on `event` as `principal` (platform.api's identity); return the outcome.

    The run is recorded at once, or with `deferred` (runs fired by a request)
    once the request's response has been sent. Without `keep_changes` the
    outcome's event is `event` as given (the caller ignores the script's changes).
    """
    limits = Limits(
        wall_seconds=info.time_limit_seconds,
        cpu_seconds=info.time_limit_seconds,
        memory_mb=info.memory_limit_mb,
    )
    outcome = run_script(
        info.source,
        event,
        session=session_of(principal),
        limits=limits,
        host=PlatformHost(script_id=info.id, principal=principal),
        name=info.name,
        keep_changes=keep_changes,
    )
    if deferred:
        defer_run(info.id, event_name, outcome)
    else:
        record_runs([(info.id, event_name, outcome)])
    return outcome
