"""Models of event scripts: the scripts, their recent runs, and the hosts they may call.

One rule: a script's source is syntax-checked whenever the model is cleaned
(the admin always does), and any save or delete of a script or of the
allow-list publishes a new version, so every process's in-memory lookup
(`services.scripting.state`) follows.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.signals import post_delete, post_save

from services.scripting.events import EventName, parse_event_name
from services.scripting.state import WATCHED, changed


class Language(models.TextChoices):
    PYTHON = "python", "Python"


class Outcome(models.TextChoices):
    OK = "ok", "OK"
    ABORTED = "aborted", "Aborted"
    ERROR = "error", "Error"


class EventScript(models.Model):
    """Python run before (`pre_process`) or after (`post_process`) an API call, after it
    in a worker (`queued`), or on a schedule (`scheduled`).

    The event name follows DreamFactory's scheme, e.g.
    `crm._table.contact.post.pre_process`; `{table_name}` in place of a table
    (or `{procedure_name}` / `{function_name}`) matches every one.
    """

    name = models.CharField(
        max_length=300,
        unique=True,
        help_text="Event name, e.g. crm._table.contact.post.pre_process, "
        "crm._table.{table_name}.get.post_process, crm._proc.refresh.post.queued, "
        "or a name of your own ending in .scheduled.",
    )
    language = models.CharField(max_length=16, choices=Language.choices, default=Language.PYTHON)
    source = models.TextField(
        blank=True, help_text="Python; sees `event` and `platform` (see docs/scripts.md)."
    )
    active = models.BooleanField(default=True)
    allow_event_modification = models.BooleanField(
        default=False,
        help_text="Let the script change the request (pre_process) or the response "
        "(post_process), or answer the request itself.",
    )
    time_limit_seconds = models.FloatField(
        default=5.0, validators=[MinValueValidator(0.1), MaxValueValidator(300.0)]
    )
    memory_limit_mb = models.PositiveIntegerField(
        default=256, validators=[MinValueValidator(32), MaxValueValidator(4096)]
    )
    # Scheduled scripts only.
    interval_seconds = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Scheduled scripts: run every this many seconds.",
    )
    crontab = models.CharField(
        max_length=120,
        blank=True,
        help_text='Scheduled scripts: a five-field crontab in UTC, e.g. "*/15 * * * *".',
    )
    run_as_app = models.ForeignKey(
        "rbac.App",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Scheduled scripts: platform.api calls run under this app's default role.",
    )
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask",
        null=True,
        blank=True,
        editable=False,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "services"
        ordering = ("name",)
        verbose_name = "event script"

    def __str__(self) -> str:
        return self.name

    def event(self) -> EventName:
        """The parsed event name (raises ValueError for a malformed one)."""
        return parse_event_name(self.name)

    def clean(self) -> None:
        """Check the event name, the source's syntax and the schedule."""
        from services.scripting.sandbox import check_syntax
        from services.scripting.schedule import check_schedule

        errors: dict[str, Any] = {}
        try:
            event = parse_event_name(self.name or "")
        except ValueError as error:
            errors["name"] = str(error)
            event = None
        problem = check_syntax(self.source or "")
        if problem is not None:
            errors["source"] = f"Syntax error: {problem}"
        if event is not None:
            try:
                check_schedule(event, interval_seconds=self.interval_seconds, crontab=self.crontab)
            except ValidationError as error:
                errors.setdefault("crontab", []).extend(error.messages)
        if errors:
            raise ValidationError(errors)


class ScriptRun(models.Model):
    """One run of a script: its outcome, duration, log lines and error (the last N are kept)."""

    script = models.ForeignKey(EventScript, on_delete=models.CASCADE, related_name="runs")
    event_name = models.CharField(max_length=300, blank=True)
    outcome = models.CharField(max_length=8, choices=Outcome.choices)
    duration_ms = models.FloatField()
    logs = models.TextField(blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "services"
        ordering = ("-pk",)
        indexes = (models.Index(fields=("script", "-id"), name="scriptrun_script_recent"),)

    def __str__(self) -> str:
        return f"{self.script_id} {self.outcome} {self.duration_ms:.1f} ms"


class ScriptHttpHost(models.Model):
    """A host event scripts may reach with `platform.http` (scheme, host and port must match)."""

    scheme = models.CharField(
        max_length=5, choices=(("https", "https"), ("http", "http")), default="https"
    )
    host = models.CharField(max_length=253, help_text="Exact host name or IP, e.g. api.hubapi.com")
    port = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(65535)],
        help_text="Blank: the scheme's default port.",
    )
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        app_label = "services"
        ordering = ("host", "port")
        verbose_name = "script HTTP host"
        constraints = (
            models.UniqueConstraint(
                fields=("scheme", "host", "port"), name="scripthttphost_unique"
            ),
        )

    def __str__(self) -> str:
        port = f":{self.port}" if self.port else ""
        return f"{self.scheme}://{self.host}{port}"

    def clean(self) -> None:
        self.host = (self.host or "").strip().lower().rstrip(".")
        if not self.host or "/" in self.host or " " in self.host:
            raise ValidationError({"host": "A bare host name or IP address."})


# Any change to scripts, allowed hosts or HubSpot accounts reloads the scripts' state.
# Senders are named, so other models (runs above all) keep Django's fast deletes.
for watched in WATCHED:
    post_save.connect(changed, sender=watched, dispatch_uid=f"scripts-changed-save-{watched}")
    post_delete.connect(changed, sender=watched, dispatch_uid=f"scripts-changed-del-{watched}")
