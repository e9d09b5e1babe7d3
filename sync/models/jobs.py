"""Sync jobs and their field mappings.

One rule: the engine reads a job only through `SyncJob.spec()`, a frozen
`JobSpec` built once per run; the job's schedule is kept by `sync.schedule`.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from sync.jobspec import RECORD_ID, FieldMapping, JobSpec, WriteBack
from sync.models.accounts import HubSpotAccount
from sync.schedule import parse_crontab
from sync.transforms import TRANSFORM_CHOICES


class Direction(models.TextChoices):
    """Which way a job (or one mapping) carries data."""

    PUSH = "push", "push (PostgreSQL → HubSpot)"
    PULL = "pull", "pull (HubSpot → PostgreSQL)"
    BOTH = "both", "both"


class Mode(models.TextChoices):
    """How a job writes to its target."""

    UPSERT = "upsert", "upsert"
    UPDATE_ONLY = "update_only", "update only"
    CREATE_ONLY = "create_only", "create only"
    MIRROR = "mirror", "mirror (also archive what vanished from the source)"


class ConflictPolicy(models.TextChoices):
    """Who wins when both sides changed a record (two-way jobs)."""

    NEWEST = "newest", "newest change wins"
    POSTGRES = "postgres", "PostgreSQL wins"
    HUBSPOT = "hubspot", "HubSpot wins"


class SyncJob(models.Model):
    """One table or view of one service ↔ one HubSpot object type, with its settings.

    The schedule (an interval or a crontab) lives in django-celery-beat as
    `periodic_task`, kept in step with the job by `sync.schedule`.
    """

    name = models.SlugField(max_length=64, unique=True)
    label = models.CharField(max_length=128, blank=True)
    account = models.ForeignKey(HubSpotAccount, on_delete=models.PROTECT, related_name="jobs")
    service = models.ForeignKey(
        "services.Service", on_delete=models.PROTECT, related_name="sync_jobs"
    )
    table = models.CharField(
        max_length=255,
        help_text="The table or view as the API names it (`schema.table` outside the first schema).",
    )
    object_type = models.CharField(
        max_length=128,
        default="contacts",
        help_text="contacts, companies, deals, or a custom object's name or type id.",
    )
    direction = models.CharField(max_length=8, choices=Direction.choices, default=Direction.PUSH)
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.UPSERT)
    match_column = models.CharField(
        max_length=63, help_text="The column that identifies a record on both sides."
    )
    match_property = models.CharField(
        max_length=128,
        default="email",
        help_text=(
            f"A unique HubSpot property (email, domain, a unique custom property), or "
            f"{RECORD_ID} when the column stores HubSpot's record id."
        ),
    )
    watermark_column = models.CharField(
        max_length=63,
        blank=True,
        help_text="A timestamp or number column that grows on each change (e.g. updated_at); "
        "empty: detect changes by content hash.",
    )
    writeback_id_column = models.CharField(
        "HubSpot id column", max_length=63, blank=True, help_text="Receives the HubSpot record id."
    )
    writeback_synced_at_column = models.CharField(
        "synced-at column", max_length=63, blank=True, help_text="Receives the last sync time."
    )
    writeback_status_column = models.CharField(
        "status column", max_length=63, blank=True, help_text="Receives the last sync status."
    )
    writeback_error_column = models.CharField(
        "error column", max_length=63, blank=True, help_text="Receives the last error message."
    )
    conflict_policy = models.CharField(
        max_length=16, choices=ConflictPolicy.choices, default=ConflictPolicy.NEWEST
    )
    interval_seconds = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(10)],
        help_text="Run every N seconds (leave empty to use a crontab, or neither for no schedule).",
    )
    crontab = models.CharField(
        max_length=128,
        blank=True,
        help_text='Five fields: minute hour day-of-month month day-of-week, e.g. "*/15 * * * *" '
        "(in UTC).",
    )
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask",
        null=True,
        blank=True,
        editable=False,
        on_delete=models.SET_NULL,
        related_name="sync_job",
    )
    max_deletions = models.PositiveIntegerField(
        default=100, help_text="Mirror mode: a run that would archive more records stops instead."
    )
    dry_run = models.BooleanField(
        default=False, help_text="Compute and show what a run would send; send nothing."
    )
    enabled = models.BooleanField(default=True, help_text="Disabled jobs are not scheduled.")
    error_threshold = models.PositiveIntegerField(
        default=0,
        help_text="The job shows as unhealthy when its last run failed more records than this "
        "(0: only when the run itself failed).",
    )
    # The engine's checkpoints, e.g. {"push": {"watermark": "...", "key": "..."}}.
    checkpoint = models.JSONField(default=dict, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("name",)
        verbose_name = "sync job"
        constraints = (
            models.CheckConstraint(
                condition=Q(interval_seconds__isnull=True) | Q(crontab=""),
                name="syncjob_one_schedule",
                violation_error_message="Set either an interval or a crontab, not both.",
            ),
        )

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """Check the schedule: an interval or a valid five-field crontab, not both."""
        self.crontab = " ".join(self.crontab.split())
        if self.interval_seconds is not None and self.crontab:
            raise ValidationError(
                {"crontab": "Set either an interval or a crontab, not both."}, code="invalid"
            )
        if self.crontab:
            try:
                parse_crontab(self.crontab)
            except ValidationError as error:
                raise ValidationError({"crontab": error.messages}) from None

    def write_back(self) -> WriteBack:
        """Return the write-back columns as the engine's value."""
        return WriteBack(
            hubspot_id=self.writeback_id_column,
            synced_at=self.writeback_synced_at_column,
            status=self.writeback_status_column,
            error=self.writeback_error_column,
        )

    def spec(self) -> JobSpec:
        """Return the job as the engine's value, with its mappings in order.

        Raises config.crypto.DecryptionError when the account's token cannot
        be decrypted.
        """
        mappings = tuple(row.mapping() for row in self.mappings.order_by("position", "pk"))
        return JobSpec(
            job_id=self.pk,
            name=self.name,
            service=self.service.name,
            table=self.table,
            object_type=self.object_type,
            direction=self.direction,  # type: ignore[arg-type]  # constrained by choices
            mode=self.mode,  # type: ignore[arg-type]  # constrained by choices
            match_column=self.match_column,
            match_property=self.match_property,
            mappings=mappings,
            account=self.account.settings(),
            watermark_column=self.watermark_column,
            write_back=self.write_back(),
            conflict_policy=self.conflict_policy,  # type: ignore[arg-type]  # choices
            max_deletions=self.max_deletions,
            dry_run=self.dry_run,
        )


class FieldMappingRow(models.Model):
    """One column ↔ one HubSpot property of a job, with an optional transform."""

    job = models.ForeignKey(SyncJob, on_delete=models.CASCADE, related_name="mappings")
    column = models.CharField(max_length=63)
    property = models.CharField(max_length=128)
    transform = models.CharField(max_length=32, choices=TRANSFORM_CHOICES, blank=True)
    options = models.JSONField(
        default=dict,
        blank=True,
        help_text='The transform\'s settings, e.g. {"values": {"db": "option"}}, '
        '{"value": "x"}, {"separator": ";"}, {"expression": "value.upper()"}.',
    )
    direction = models.CharField(max_length=8, choices=Direction.choices, default=Direction.BOTH)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ("position", "pk")
        verbose_name = "field mapping"
        constraints = (
            models.UniqueConstraint(fields=("job", "column", "property"), name="mapping_unique"),
        )

    def __str__(self) -> str:
        return f"{self.column} → {self.property}"

    def mapping(self) -> FieldMapping:
        """Return this row as the engine's value."""
        return FieldMapping(
            column=self.column,
            property=self.property,
            transform=self.transform,
            options=dict(self.options or {}),
            direction=self.direction,  # type: ignore[arg-type]  # constrained by choices
        )
