"""The run and record-error admin: what each run did (live while it runs) and what failed.

One rule: runs are the engine's record and read-only here (no add, change or
delete); of a record error only `resolved` may be changed, by the "Mark
resolved" action or on its page.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import Truncator

from sync.models import SyncRecordError, SyncRun

# The run page and list reload themselves this often while a run is going on.
REFRESH_SECONDS = 3
ACTIVE_STATUSES = ("queued", "running")


def progress_text(run: SyncRun) -> str:
    """ "done / total (percent)" or "done" when the total is unknown."""
    if run.progress_total:
        percent = 100 * run.progress_done / run.progress_total
        return f"{run.progress_done:,} / {run.progress_total:,} ({percent:.0f}%)"
    return f"{run.progress_done:,}"


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin[SyncRun]):
    """Runs of sync jobs: status, counts and live progress."""

    change_form_template = "admin/sync/syncrun/change_form.html"
    change_list_template = "admin/sync/syncrun/change_list.html"
    list_display = (
        "id",
        "job",
        "status",
        "direction",
        "dry_run",
        "started_at",
        "progress",
        "rate",
        "records_read",
        "records_created",
        "records_updated",
        "records_unchanged",
        "records_failed",
        "conflicts",
        "requests_sent",
        "rate_limited",
        "duration",
    )
    list_display_links = ("id", "status")
    list_filter = ("status", "dry_run", "direction", "job")
    list_select_related = ("job",)
    date_hierarchy = "created_at"
    fieldsets = (
        (None, {"fields": ("job", "status", "direction", "dry_run", "error")}),
        ("Progress", {"fields": ("progress", "rate", "started_at", "finished_at", "duration")}),
        (
            "Records",
            {
                "fields": (
                    "records_read",
                    "records_changed",
                    "records_created",
                    "records_updated",
                    "records_unchanged",
                    "records_failed",
                    "records_deleted",
                    "conflicts",
                    "conflict_list",
                    "errors_link",
                )
            },
        ),
        ("Requests", {"fields": ("requests_sent", "rate_limited")}),
        ("Dry run", {"fields": ("preview",), "classes": ("collapse",)}),
    )

    def get_readonly_fields(self, request: HttpRequest, obj: SyncRun | None = None) -> list[str]:
        """Every field shown is read-only."""
        return [str(name) for _title, options in self.fieldsets for name in options["fields"]]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: SyncRun | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: SyncRun | None = None) -> bool:
        return False

    @admin.display(description="progress")
    def progress(self, obj: SyncRun) -> SafeString:
        if obj.progress_total:
            return format_html(
                '<progress value="{}" max="{}"></progress> {}',
                obj.progress_done,
                obj.progress_total,
                progress_text(obj),
            )
        return format_html("{}", progress_text(obj))

    @admin.display(description="records/s")
    def rate(self, obj: SyncRun) -> str:
        rate = obj.records_per_second
        return self.get_empty_value_display() if rate is None else f"{rate:,.1f}"

    @admin.display(description="duration")
    def duration(self, obj: SyncRun) -> str:
        elapsed = obj.elapsed_seconds
        return self.get_empty_value_display() if elapsed is None else f"{elapsed:,.1f} s"

    @admin.display(description="conflicts settled")
    def conflict_list(self, obj: SyncRun) -> SafeString:
        """Each conflict of a two-way run: the record, the side that won and why."""
        entries = obj.resolutions if isinstance(obj.resolutions, list) else []
        if not entries:
            return format_html("{}", self.get_empty_value_display())
        items = format_html_join(
            "",
            "<li>record {} (HubSpot id {}): <strong>{}</strong> won; {}</li>",
            (
                (
                    entry.get("key"),
                    entry.get("hubspot_id"),
                    "HubSpot" if entry.get("winner") == "hubspot" else "PostgreSQL",
                    entry.get("reason", ""),
                )
                for entry in entries
                if isinstance(entry, dict)
            ),
        )
        return format_html("<ul>{}</ul>", items)

    @admin.display(description="record errors")
    def errors_link(self, obj: SyncRun) -> SafeString:
        count = obj.record_errors.count()
        url = reverse("admin:sync_syncrecorderror_changelist")
        return format_html('<a href="{}?run={}">{} record error(s)</a>', url, obj.pk, count)

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        run = self.get_object(request, object_id) if object_id else None
        context = {
            "refresh_seconds": REFRESH_SECONDS if run and not run.finished else None,
            **(extra_context or {}),
        }
        return super().changeform_view(request, object_id, form_url, context)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        active = SyncRun.objects.filter(status__in=ACTIVE_STATUSES).exists()
        context = {"refresh_seconds": REFRESH_SECONDS if active else None, **(extra_context or {})}
        return super().changelist_view(request, context)


class RunFilter(admin.SimpleListFilter):
    """Errors of one run: the latest runs (of the chosen job) are offered, any id is accepted."""

    title = "run"
    parameter_name = "run"
    offered = 20

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        runs = SyncRun.objects.select_related("job").order_by("-created_at", "-pk")
        job = request.GET.get("job__id__exact", "")
        if job.isdigit():
            runs = runs.filter(job_id=int(job))
        return [
            (str(run.pk), f"#{run.pk} {run.job.name} ({run.status})")
            for run in runs[: self.offered]
        ]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[SyncRecordError]
    ) -> QuerySet[SyncRecordError]:
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(run_id=int(value))
        return queryset


@admin.register(SyncRecordError)
class SyncRecordErrorAdmin(admin.ModelAdmin[SyncRecordError]):
    """Records a job could not sync, with HubSpot's category and message."""

    list_display = (
        "record_key",
        "job",
        "run_link",
        "category",
        "short_message",
        "attempts",
        "resolved",
        "last_seen",
    )
    list_filter = ("job", RunFilter, "category", "resolved")
    list_select_related = ("job",)
    search_fields = ("record_key", "message")
    actions = ("mark_resolved",)
    fields = (
        "job",
        "run",
        "record_key",
        "category",
        "message",
        "payload",
        "attempts",
        "first_seen",
        "last_seen",
        "resolved",
    )
    readonly_fields = fields[:-1]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="run")
    def run_link(self, obj: SyncRecordError) -> SafeString | str:
        if obj.run_id is None:
            return self.get_empty_value_display()
        url = reverse("admin:sync_syncrun_change", args=[obj.run_id])
        return format_html('<a href="{}">#{}</a>', url, obj.run_id)

    @admin.display(description="message")
    def short_message(self, obj: SyncRecordError) -> str:
        return Truncator(obj.message).chars(120)

    @admin.action(description="Mark resolved", permissions=["change"])
    def mark_resolved(self, request: HttpRequest, queryset: QuerySet[SyncRecordError]) -> None:
        count = queryset.resolve()  # type: ignore[attr-defined]  # RecordErrorQuerySet's
        self.message_user(request, f"{count} record error(s) marked resolved.", messages.SUCCESS)
