"""Celery tasks of event scripts: queued runs after a response, scheduled runs from beat.

One rule: tasks are thin — they call one function of
`services.scripting.background` — and are acknowledged late and requeued
when their worker is lost.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from services.scripting.background import queued_script_run, scheduled_script_run

# Above the longest script time limit the admin allows (300 s).
SOFT_LIMIT = 330
HARD_LIMIT = 360


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=SOFT_LIMIT,
    time_limit=HARD_LIMIT,
    ignore_result=True,
)
def run_queued_script(
    script_id: int, event_name: str, event: dict[str, Any], identity: dict[str, Any]
) -> str:
    """Run a queued script on the event of the request that fired it."""
    return queued_script_run(script_id, event_name, event, identity)


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=SOFT_LIMIT,
    time_limit=HARD_LIMIT,
    ignore_result=True,
)
def run_scheduled_script(script_id: int) -> str:
    """Run a scheduled script (sent by beat)."""
    return scheduled_script_run(script_id)
