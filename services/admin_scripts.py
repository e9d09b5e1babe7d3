"""Django admin of event scripts: the scripts with their recent runs, and the HTTP allow-list.

One rule: the admin only edits and reports. Saving a script keeps its
periodic task in step (`services.scripting.schedule`), "Run with sample
event" calls `services.scripting.sample`, and a script's runs are read-only.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from config.admin_buttons import ObjectButton, ObjectButtonsAdmin
from services.models import Service
from services.scripting.events import names_for_service
from services.scripting.models import EventScript, ScriptHttpHost, ScriptRun
from services.scripting.sample import SampleResult, sample_run
from services.scripting.schedule import delete_script, schedule_script
from services.scripting.state import script_info

logger = logging.getLogger(__name__)

DATALIST_ID = "event-script-names"


def schema_event_names() -> list[str]:
    """Every event name of every active service's schema (services that cannot be read: none)."""
    from services.schema_cache import get_snapshot

    names: list[str] = []
    for service in Service.objects.filter(active=True):
        try:
            snapshot = get_snapshot(service.config())
        except Exception:  # an unreachable service offers no names; the field stays free text
            logger.info("no schema for service %s in the script picker", service.name)
            continue
        procedures = sorted(
            name
            for name, routine in snapshot.routines.items()
            if any(form.kind == "procedure" for form in routine.variants())
        )
        functions = sorted(
            name
            for name, routine in snapshot.routines.items()
            if any(form.kind == "function" for form in routine.variants())
        )
        names.extend(
            names_for_service(service.name, sorted(snapshot.tables), procedures, functions)
        )
    return names


class EventNameInput(forms.TextInput):
    """A text input with a datalist of the event names of the services' schemas."""

    def render(self, name: str, value: Any, attrs: Any = None, renderer: Any = None) -> SafeString:
        attrs = {**(attrs or {}), "list": DATALIST_ID, "size": 80, "autocomplete": "off"}
        field = super().render(name, value, attrs, renderer)
        options = format_html_join("", '<option value="{}">', ((n,) for n in schema_event_names()))
        return format_html('{}<datalist id="{}">{}</datalist>', field, DATALIST_ID, options)


class EventScriptForm(forms.ModelForm):  # type: ignore[type-arg]  # admin forms are untyped
    """The script form: the event name picked from the schemas, the source in a code box."""

    class Meta:
        model = EventScript
        fields = (
            "name",
            "language",
            "active",
            "allow_event_modification",
            "source",
            "time_limit_seconds",
            "memory_limit_mb",
            "interval_seconds",
            "crontab",
            "run_as_app",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["name"].widget = EventNameInput()
        self.fields["source"].widget = forms.Textarea(
            attrs={
                "rows": 24,
                "cols": 100,
                "spellcheck": "false",
                "style": "font-family: monospace",
            }
        )


class ScriptRunInline(admin.TabularInline):  # type: ignore[type-arg]  # admin inlines are untyped
    """The script's recent runs, newest first, read-only."""

    model = ScriptRun
    extra = 0
    can_delete = False
    ordering = ("-pk",)
    fields = ("created_at", "event_name", "outcome", "duration", "error", "log_lines")
    readonly_fields = fields
    verbose_name_plural = "Recent runs"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Duration")
    def duration(self, run: ScriptRun) -> str:
        return f"{run.duration_ms:.1f} ms"

    @admin.display(description="Log")
    def log_lines(self, run: ScriptRun) -> str:
        return format_html('<pre style="white-space: pre-wrap; margin: 0">{}</pre>', run.logs)


@admin.register(EventScript)
class EventScriptAdmin(ObjectButtonsAdmin[EventScript]):
    """Event scripts: name, source, limits, schedule; recent runs; a sample run."""

    form = EventScriptForm
    inlines = (ScriptRunInline,)
    object_buttons = (
        ObjectButton(
            "run_sample",
            "Run with sample event",
            "Run the saved script on a sample event and show its output and changes",
        ),
    )
    list_display = (
        "name",
        "active",
        "allow_event_modification",
        "time_limit_seconds",
        "updated_at",
    )
    list_filter = ("active", "allow_event_modification")
    search_fields = ("name", "source")
    readonly_fields = ("created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("name", "language", "active", "allow_event_modification", "source")}),
        ("Limits", {"fields": ("time_limit_seconds", "memory_limit_mb")}),
        (
            "Schedule (scripts named ….scheduled)",
            {"fields": ("interval_seconds", "crontab", "run_as_app")},
        ),
        ("History", {"fields": ("created_at", "updated_at"), "classes": ("collapse",)}),
    )

    def save_model(self, request: HttpRequest, obj: EventScript, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        schedule_script(obj)

    def delete_model(self, request: HttpRequest, obj: EventScript) -> None:
        delete_script(obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[EventScript]) -> None:
        for script in queryset:
            delete_script(script)

    def press(self, request: HttpRequest, obj: EventScript, name: str) -> None:
        """Run the script on a sample event and report its outcome, log and changes."""
        user_id = request.user.pk
        assert user_id is not None  # admin_view let only a logged-in user through
        self.report(request, sample_run(script_info(obj), user_id=int(user_id)))

    def report(self, request: HttpRequest, result: SampleResult) -> None:
        level = {"ok": messages.SUCCESS, "aborted": messages.WARNING}.get(
            result.outcome, messages.ERROR
        )
        summary = f"Sample run: {result.outcome} in {result.duration_ms:.1f} ms"
        self.message_user(request, f"{summary}. {result.message}".strip(), level)
        log = "\n".join(result.logs) or "(no output)"
        self.message_user(request, format_html("Output:<pre>{}</pre>", log), messages.INFO)
        if result.changes:
            note = "" if result.applied else " (ignored: event modification is not allowed)"
            shown = json.dumps(result.changes, indent=2, default=str)
            self.message_user(
                request,
                format_html("Changes to the event{}:<pre>{}</pre>", note, shown),
                messages.INFO,
            )
        else:
            self.message_user(request, "The script left the event unchanged.", messages.INFO)


@admin.register(ScriptHttpHost)
class ScriptHttpHostAdmin(admin.ModelAdmin[ScriptHttpHost]):
    """Hosts event scripts may call with platform.http (HubSpot accounts' hosts are allowed too)."""

    list_display = ("__str__", "note")
    search_fields = ("host", "note")
