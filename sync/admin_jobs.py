"""The sync job admin: settings with their mappings inline, health in the list, run buttons.

One rule: the buttons and actions only queue `sync.tasks.run_job` (after the
transaction commits) and say so; they never run a job in the request. Saving
or deleting a job keeps its beat schedule in step through `sync.schedule`.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from config.admin_buttons import ObjectButton, ObjectButtonsAdmin
from sync.forms import FieldMappingForm, FieldMappingFormSet, SyncJobForm
from sync.models import (
    FINISHED_STATUSES,
    FieldMappingRow,
    SyncAssociation,
    SyncJob,
    SyncRecordError,
    SyncRun,
    run_is_unhealthy,
)
from sync.schedule import delete_job, describe_schedule, schedule_job

# Button name → (dry_run, retry_failed, what is queued).
RUN_KINDS: dict[str, tuple[bool, bool, str]] = {
    "run_now": (False, False, "a run"),
    "dry_run": (True, False, "a dry run"),
    "retry_failed": (False, True, "a retry of the failed records"),
}


class QueueError(Exception):
    """A run could not be queued (the broker is unreachable)."""


def _send(job_id: int, *, dry_run: bool, retry_failed: bool) -> None:
    from sync.tasks import run_job

    run_job.delay(job_id, dry_run=dry_run, retry_failed=retry_failed)


def enqueue_run(job: SyncJob, *, dry_run: bool = False, retry_failed: bool = False) -> None:
    """Queue `sync.tasks.run_job` for `job` once the current transaction commits.

    Raises QueueError when the broker refuses it (outside a transaction the
    task is sent at once, so the caller learns of it).
    """
    try:
        transaction.on_commit(partial(_send, job.pk, dry_run=dry_run, retry_failed=retry_failed))
    except Exception as error:  # kombu and redis raise many kinds; none may become a 500
        raise QueueError(f"the task queue cannot be reached ({type(error).__name__})") from None


class FieldMappingInline(admin.TabularInline[FieldMappingRow, SyncJob]):
    """A job's column ↔ property mappings, checked against both sides on save."""

    model = FieldMappingRow
    form = FieldMappingForm
    formset = FieldMappingFormSet
    extra = 1
    ordering = ("position", "pk")


class AssociationInline(admin.TabularInline[SyncAssociation, SyncJob]):
    """A job's associations: the column naming each record's other side, and the type."""

    model = SyncAssociation
    fk_name = "job"
    extra = 0
    fields = ("column", "to_job", "to_object_type", "category", "type_id", "replace", "link_counts")
    readonly_fields = ("link_counts",)

    @admin.display(description="records linked / waiting")
    def link_counts(self, obj: SyncAssociation) -> str:
        if obj.pk is None:
            return "-"
        linked = obj.links.filter(linked=True).count()
        return f"{linked} / {obj.links.count() - linked}"


@admin.register(SyncJob)
class SyncJobAdmin(ObjectButtonsAdmin[SyncJob]):
    """Sync jobs: one table ↔ one HubSpot object type, their schedule, runs and health."""

    form = SyncJobForm
    inlines = (FieldMappingInline, AssociationInline)
    object_buttons = (
        ObjectButton("run_now", "Run now", "Queue a run of this job"),
        ObjectButton("dry_run", "Dry run", "Queue a run that computes what it would send"),
        ObjectButton(
            "retry_failed", "Retry failed records", "Queue a run of the records that failed"
        ),
    )
    list_display = (
        "name",
        "label",
        "account",
        "service",
        "table",
        "object_type",
        "direction",
        "schedule",
        "enabled",
        "last_run",
        "healthy",
    )
    list_filter = ("enabled", "direction", "mode", "account", "service")
    search_fields = ("name", "label", "table", "object_type")
    list_select_related = ("account", "service")
    actions = ("run_now_action", "dry_run_action", "retry_failed_action")
    readonly_fields = (
        "periodic_task_link",
        "last_run",
        "open_errors",
        "checkpoint",
        "created_at",
        "updated_at",
    )
    fieldsets = (
        (None, {"fields": ("name", "label", "enabled")}),
        (
            "Source and target",
            {"fields": ("service", "table", "account", "object_type", "direction", "mode")},
        ),
        (
            "Matching and changes",
            {"fields": ("match_column", "match_property", "watermark_column", "conflict_policy")},
        ),
        (
            "Write-back columns",
            {
                "fields": (
                    "writeback_id_column",
                    "writeback_synced_at_column",
                    "writeback_status_column",
                    "writeback_error_column",
                )
            },
        ),
        ("Schedule", {"fields": ("interval_seconds", "crontab", "periodic_task_link")}),
        ("Safety", {"fields": ("dry_run", "max_deletions", "error_threshold")}),
        (
            "State",
            {
                "fields": ("last_run", "open_errors", "checkpoint", "created_at", "updated_at"),
                "classes": ("collapse",),
            },
        ),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[SyncJob]:
        """The jobs, with their last run and last finished run annotated (no query per row)."""
        runs = SyncRun.objects.filter(job=OuterRef("pk")).order_by("-created_at", "-pk")
        finished = runs.filter(status__in=FINISHED_STATUSES)
        return (
            super()
            .get_queryset(request)
            .annotate(
                last_run_id=Subquery(runs.values("pk")[:1]),
                last_run_status=Subquery(runs.values("status")[:1]),
                last_finished_status=Subquery(finished.values("status")[:1]),
                last_finished_failed=Subquery(finished.values("records_failed")[:1]),
            )
        )

    # --- columns ---

    @admin.display(description="schedule")
    def schedule(self, obj: SyncJob) -> str:
        return describe_schedule(obj)

    @admin.display(description="last run")
    def last_run(self, obj: SyncJob) -> SafeString | str:
        """The last run's status, linked to it."""
        run_id = getattr(obj, "last_run_id", None)
        if run_id is None:
            return self.get_empty_value_display()
        url = reverse("admin:sync_syncrun_change", args=[run_id])
        return format_html('<a href="{}">{}</a>', url, getattr(obj, "last_run_status", ""))

    @admin.display(description="healthy", boolean=True)
    def healthy(self, obj: SyncJob) -> bool | None:
        """False when the last finished run failed or failed more records than the threshold."""
        status = getattr(obj, "last_finished_status", None)
        if status is None:
            return None
        failed = getattr(obj, "last_finished_failed", 0)
        return not run_is_unhealthy(status, failed, obj.error_threshold)

    @admin.display(description="periodic task")
    def periodic_task_link(self, obj: SyncJob) -> SafeString | str:
        if obj.periodic_task_id is None:
            return "none (no schedule)"
        url = reverse("admin:django_celery_beat_periodictask_change", args=[obj.periodic_task_id])
        return format_html('<a href="{}">{}</a>', url, describe_schedule(obj))

    @admin.display(description="open record errors")
    def open_errors(self, obj: SyncJob) -> SafeString | str:
        count = SyncRecordError.objects.filter(job=obj, resolved=False).count()
        url = reverse("admin:sync_syncrecorderror_changelist")
        return format_html(
            '<a href="{}?job__id__exact={}&resolved__exact=0">{}</a>', url, obj.pk, count
        )

    # --- saving keeps the schedule in step ---

    def save_model(self, request: HttpRequest, obj: SyncJob, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        schedule_job(obj)

    def delete_model(self, request: HttpRequest, obj: SyncJob) -> None:
        delete_job(obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[SyncJob]) -> None:
        for job in queryset:
            delete_job(job)

    # --- buttons and actions ---

    def press(self, request: HttpRequest, obj: SyncJob, name: str) -> None:
        """Queue a run, a dry run or a retry of one job."""
        self.queue(request, obj, name)

    def queue(self, request: HttpRequest, job: SyncJob, kind: str) -> None:
        dry_run, retry_failed, what = RUN_KINDS[kind]
        try:
            enqueue_run(job, dry_run=dry_run, retry_failed=retry_failed)
        except QueueError as error:
            self.message_user(request, f"Job '{job.name}': not queued: {error}.", messages.ERROR)
            return
        runs = reverse("admin:sync_syncrun_changelist", current_app=self.admin_site.name)
        self.message_user(
            request,
            format_html(
                "Job '{}': {} is queued; follow it under <a href=\"{}?job__id__exact={}\">runs</a>.",
                job.name,
                what,
                runs,
                job.pk,
            ),
            messages.SUCCESS,
        )

    @admin.action(description="Run now", permissions=["change"])
    def run_now_action(self, request: HttpRequest, queryset: QuerySet[SyncJob]) -> None:
        for job in queryset:
            self.queue(request, job, "run_now")

    @admin.action(description="Dry run", permissions=["change"])
    def dry_run_action(self, request: HttpRequest, queryset: QuerySet[SyncJob]) -> None:
        for job in queryset:
            self.queue(request, job, "dry_run")

    @admin.action(description="Retry failed records", permissions=["change"])
    def retry_failed_action(self, request: HttpRequest, queryset: QuerySet[SyncJob]) -> None:
        for job in queryset:
            self.queue(request, job, "retry_failed")
