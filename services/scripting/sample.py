"""The admin's "Run with sample event": a made-up event for a script's name, run and compared.

One rule: a sample run touches data only through the script's own
`platform.api` calls (made as the admin, or as a scheduled script's app);
nothing of the sample event reaches a database.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from rbac.authentication import principal_for
from rbac.policies import Principal
from rbac.state import current_state
from services.scripting.events import SCHEDULED, SYNC, EventName, parse_event_name
from services.scripting.state import ScriptInfo

SAMPLE_RECORD = {"id": 1, "name": "Sample"}


@dataclass(frozen=True, slots=True)
class SampleResult:
    outcome: str  # ok, aborted, error
    message: str  # the abort or the error; "" when ok
    logs: tuple[str, ...]
    changes: dict[str, Any]  # the parts of the event the script changed: {part: value}
    duration_ms: float
    applied: bool  # whether the changes would be applied (allow_event_modification)


def sample_event(event: EventName) -> dict[str, Any]:
    """A plausible event for `event`'s phase, verb and resource."""
    if event.phase == SCHEDULED:
        return {"request": None, "response": None, "resource": "", "schedule": "sample"}
    if event.resource == SYNC:
        return {
            "request": None,
            "response": None,
            "resource": "",
            "job": "sample" if event.target.startswith("{") else event.target,
            "run_id": 1,
            "status": "failed",
            "direction": "push",
            "error": "Sample: HubSpot could not be reached.",
            "counts": {"read": 10, "created": 5, "updated": 2, "failed": 3},
        }
    resource = f"{event.resource}/{event.target}" + ("/1" if event.by_id else "")
    verb = event.verb.upper()
    writes = verb in ("POST", "PUT", "PATCH")
    payload = (
        ({"resource": [SAMPLE_RECORD]} if not event.by_id else SAMPLE_RECORD) if writes else None
    )
    sample: dict[str, Any] = {
        "request": {
            "method": verb,
            "parameters": {},
            "headers": {"Accept": "application/json"},
            "payload": payload,
            "uri": f"/api/v2/{event.service}/{resource}",
            "service": event.service,
            "resource": resource,
        },
        "resource": resource,
        "response": None,
    }
    if event.phase in ("post_process", "queued"):
        content = SAMPLE_RECORD if event.by_id else {"resource": [SAMPLE_RECORD]}
        sample["response"] = {
            "status_code": 200,
            "content": content,
            "headers": {"Content-Type": "application/json"},
        }
    return sample


def sample_principal(info: ScriptInfo, user_id: int) -> Principal:
    """A scheduled script's app; otherwise the admin running the sample."""
    state = current_state()
    if info.run_as_app_id is not None:
        app = state.apps_by_id.get(info.run_as_app_id)
        if app is not None:
            return principal_for(state, user=None, app=app)
    return principal_for(state, user=state.user(user_id), app=None)


def sample_run(info: ScriptInfo, *, user_id: int) -> SampleResult:
    """Run `info` on a sample event for its name; say what it logged and changed."""
    from services.scripting.runs import outcome_label, script_run

    event = sample_event(parse_event_name(info.name))
    before = json.loads(json.dumps(event))
    outcome = script_run(
        info, event, principal=sample_principal(info, user_id), event_name=f"{info.name} (sample)"
    )
    after = dict(outcome.event) if outcome.event is not None else {}
    changes = {
        key: after.get(key)
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    }
    message = outcome.error or ""
    if outcome.abort is not None:
        message = f"{outcome.abort[0]}: {outcome.abort[1]}"
    return SampleResult(
        outcome=outcome_label(outcome),
        message=message,
        logs=tuple(outcome.logs),
        changes=changes,
        duration_ms=outcome.duration_ms,
        applied=info.allow_event_modification,
    )
