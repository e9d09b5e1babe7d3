"""Celery tasks of access control: the audit trail's retention.

One rule: tasks are thin — they call one function of `rbac.audit` and are
safe to run twice.
"""

from __future__ import annotations

from celery import shared_task

from rbac.audit import audit_purge


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=600,
    time_limit=660,
    ignore_result=True,
)
def purge_audit() -> int:
    """Delete audit records older than SLUICEGATE_AUDIT_RETENTION_DAYS; return how many."""
    return audit_purge()
