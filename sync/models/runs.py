"""What runs did: runs with their counts and progress, per-record errors and states.

One rule: these rows are the engine's record of its work; the admin only
reads them (and marks errors resolved).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from sync.models.jobs import Direction, SyncJob


class RunStatus(models.TextChoices):
    """Where a run is, or how it ended."""

    QUEUED = "queued", "queued"
    RUNNING = "running", "running"
    SUCCEEDED = "succeeded", "succeeded"
    PARTIAL = "partial", "partial (some records failed)"
    FAILED = "failed", "failed"
    CANCELLED = "cancelled", "cancelled"


FINISHED_STATUSES = frozenset(
    {RunStatus.SUCCEEDED, RunStatus.PARTIAL, RunStatus.FAILED, RunStatus.CANCELLED}
)


def run_is_unhealthy(status: str | None, records_failed: int | None, error_threshold: int) -> bool:
    """Whether a finished run makes its job unhealthy.

    It does when the run failed, or when `error_threshold` is set (above 0)
    and more records than that failed in it.
    """
    if status == RunStatus.FAILED:
        return True
    return bool(error_threshold and (records_failed or 0) > error_threshold)


class SyncRun(models.Model):
    """One run of a job: its status, timing, counts and live progress."""

    job = models.ForeignKey(SyncJob, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    direction = models.CharField(max_length=8, choices=Direction.choices, default=Direction.PUSH)
    dry_run = models.BooleanField(default=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    records_read = models.PositiveIntegerField(default=0)
    records_changed = models.PositiveIntegerField(default=0)
    records_created = models.PositiveIntegerField(default=0)
    records_updated = models.PositiveIntegerField(default=0)
    records_unchanged = models.PositiveIntegerField(default=0)
    records_failed = models.PositiveIntegerField(default=0)
    records_deleted = models.PositiveIntegerField(default=0)
    requests_sent = models.PositiveIntegerField(default=0)
    rate_limited = models.PositiveIntegerField(default=0, help_text="429 answers absorbed.")
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(null=True, blank=True)
    conflicts = models.PositiveIntegerField(default=0)
    # Two-way runs: the conflicts settled (record, winner, why; capped by the engine).
    resolutions = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True, default="")
    # What a dry run would send (capped by the engine).
    preview = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created_at", "-pk")
        verbose_name = "sync run"
        indexes = (models.Index(fields=("job", "-started_at"), name="syncrun_job_started"),)

    def __str__(self) -> str:
        return f"{self.job} #{self.pk}"

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    @property
    def elapsed_seconds(self) -> float | None:
        """Seconds from start to finish (or to now while running); None before it starts."""
        if self.started_at is None:
            return None
        end = self.finished_at or timezone.now()
        return max((end - self.started_at).total_seconds(), 0.0)

    @property
    def records_per_second(self) -> float | None:
        """Records done per second of the run so far; None before it starts or at 0 s."""
        elapsed = self.elapsed_seconds
        if not elapsed:
            return None
        return self.progress_done / elapsed


class RecordErrorQuerySet(models.QuerySet["SyncRecordError"]):
    """Record errors, with the bulk operations the admin offers."""

    def resolve(self) -> int:
        """Mark the open errors among these resolved; return how many were open."""
        return self.filter(resolved=False).update(resolved=True)


class SyncRecordError(models.Model):
    """A record a job could not sync: HubSpot's category and message, and a payload excerpt.

    A record has at most one unresolved error per job; a repeated failure
    bumps `attempts` and `last_seen`.
    """

    job = models.ForeignKey(SyncJob, on_delete=models.CASCADE, related_name="record_errors")
    run = models.ForeignKey(
        SyncRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="record_errors"
    )
    record_key = models.CharField(max_length=512)
    category = models.CharField(max_length=64, blank=True)
    message = models.TextField()
    payload = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveIntegerField(default=1)
    resolved = models.BooleanField(default=False)
    first_seen = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField(auto_now=True)

    objects = RecordErrorQuerySet.as_manager()

    class Meta:
        ordering = ("-last_seen", "-pk")
        verbose_name = "record error"
        constraints = (
            models.UniqueConstraint(
                fields=("job", "record_key"),
                condition=Q(resolved=False),
                name="recorderror_one_open_per_record",
            ),
        )
        indexes = (models.Index(fields=("job", "resolved"), name="recorderror_job_resolved"),)

    def __str__(self) -> str:
        return f"{self.job}: {self.record_key}"


class SyncRecordState(models.Model):
    """What the engine last sent for one record of a job (change detection, echo suppression)."""

    job = models.ForeignKey(SyncJob, on_delete=models.CASCADE, related_name="record_states")
    record_key = models.CharField(max_length=512)
    hubspot_id = models.CharField(max_length=64, blank=True)
    content_hash = models.CharField(max_length=64, blank=True)
    pushed_at = models.DateTimeField(null=True, blank=True)
    pushed_values = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = "record state"
        constraints = (
            models.UniqueConstraint(fields=("job", "record_key"), name="recordstate_unique"),
        )
        indexes = (models.Index(fields=("job", "hubspot_id"), name="recordstate_job_hsid"),)

    def __str__(self) -> str:
        return f"{self.job}: {self.record_key}"
