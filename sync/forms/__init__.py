"""The admin's forms for HubSpot accounts and sync jobs.

One rule: secrets are write-only (never rendered, never echoed; a blank
field keeps the stored one), and a job and its mappings are saved only when
`sync.forms.checks` finds them fit for both sides; each problem is shown on
the field to fix.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

from django import forms
from django.core.exceptions import ValidationError

from sync.forms.checks import (
    JobTarget,
    Problem,
    forget_properties,
    hubspot_properties,
    job_problems,
    job_target,
    service_table,
)
from sync.hubspot.settings import DEFAULT_BASE_URL, AccountSettings
from sync.models import FieldMappingRow, HubSpotAccount, SyncJob
from sync.transforms import mapping_problems

__all__ = [
    "FieldMappingForm",
    "FieldMappingFormSet",
    "HubSpotAccountForm",
    "JobTarget",
    "Problem",
    "SyncJobForm",
    "forget_properties",
    "hubspot_properties",
    "job_problems",
    "job_target",
    "service_table",
]

ACCESS_HELP_ADD = "The private app's access token. Write-only: stored encrypted, never shown again."
ACCESS_HELP_CHANGE = "Write-only: never shown. Leave blank to keep the stored token."
SIGNING_HELP = (
    "The app's client secret, to check webhook signatures. Write-only: never shown; "
    "leave blank to keep the stored one."
)


class HubSpotAccountForm(forms.ModelForm):  # type: ignore[type-arg]  # admin forms are untyped
    """The account form, with write-only fields for the encrypted token and webhook secret."""

    base_url = forms.URLField(
        max_length=200,
        assume_scheme="https",
        initial=DEFAULT_BASE_URL,
        help_text=HubSpotAccount._meta.get_field("base_url").help_text,
    )
    token = forms.CharField(
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=ACCESS_HELP_CHANGE,
    )
    webhook_client_secret = forms.CharField(
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=SIGNING_HELP,
    )
    clear_webhook_client_secret = forms.BooleanField(
        required=False, help_text="Remove the stored webhook client secret."
    )

    class Meta:
        model = HubSpotAccount
        fields = (
            "name",
            "label",
            "active",
            "base_url",
            "api_version",
            "burst_limit",
            "burst_window_seconds",
            "daily_limit",
            "search_limit",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance._state.adding:
            field = self.fields["token"]
            field.required = True
            field.error_messages["required"] = "Enter the access token."
            field.help_text = ACCESS_HELP_ADD

    def clean_token(self) -> str:
        token: str = self.cleaned_data.get("token") or ""
        if self.instance._state.adding and not token:
            raise ValidationError("Enter the access token.", code="required")
        if any(character.isspace() for character in token):
            raise ValidationError("A token has no spaces in it.", code="invalid")
        return token

    def clean(self) -> dict[str, Any]:
        """Check the limits and API version together, as the client will read them."""
        cleaned: dict[str, Any] = super().clean() or {}
        try:
            AccountSettings(
                token="-",  # noqa: S106  # a placeholder: only the other settings are checked
                base_url=cleaned.get("base_url") or "https://api.hubapi.com",
                api_version=cleaned.get("api_version") or "v3",
                burst_limit=cleaned.get("burst_limit") or 1,
                burst_window=float(cleaned.get("burst_window_seconds") or 1),
                daily_limit=cleaned.get("daily_limit") or 1,
                search_limit=cleaned.get("search_limit") or 1,
            )
        except ValueError as error:
            raise ValidationError(str(error), code="invalid") from None
        return cleaned

    def save(self, commit: bool = True) -> HubSpotAccount:
        """Encrypt newly typed secrets into the instance, then save as usual."""
        if self.cleaned_data.get("token"):
            self.instance.set_token(self.cleaned_data["token"])
        if self.cleaned_data.get("clear_webhook_client_secret"):
            self.instance.set_webhook_secret("")
        elif self.cleaned_data.get("webhook_client_secret"):
            self.instance.set_webhook_secret(self.cleaned_data["webhook_client_secret"])
        account: HubSpotAccount = super().save(commit=commit)
        return account


class SyncJobForm(forms.ModelForm):  # type: ignore[type-arg]  # admin forms are untyped
    """The job form: its table, match key, watermark and write-back columns are checked."""

    class Meta:
        model = SyncJob
        fields = (
            "name",
            "label",
            "enabled",
            "account",
            "service",
            "table",
            "object_type",
            "direction",
            "mode",
            "match_column",
            "match_property",
            "watermark_column",
            "conflict_policy",
            "writeback_id_column",
            "writeback_synced_at_column",
            "writeback_status_column",
            "writeback_error_column",
            "interval_seconds",
            "crontab",
            "max_deletions",
            "dry_run",
            "error_threshold",
        )

    def clean(self) -> dict[str, Any]:
        """Check the job against its table and object type (when both are chosen)."""
        cleaned: dict[str, Any] = super().clean() or {}
        needed = ("account", "service", "table", "object_type", "match_column", "match_property")
        if any(not cleaned.get(name) for name in needed):
            return cleaned  # the fields' own errors say what is missing
        job = SyncJob(
            **{name: cleaned.get(name) for name in self.Meta.fields if name in cleaned},
        )
        try:
            target = job_target(job)
        except Problem as problem:
            self.add_error(problem.field or None, problem.message)
            return cleaned
        for found in job_problems(job, target):
            self.add_error(found.field or None, found.message)
        return cleaned


class FieldMappingForm(forms.ModelForm):  # type: ignore[type-arg]  # admin forms are untyped
    """One mapping row; the options are JSON in a small text box."""

    class Meta:
        model = FieldMappingRow
        fields = ("position", "column", "property", "transform", "options", "direction")
        widgets: ClassVar[dict[str, forms.Widget]] = {
            "options": forms.Textarea(attrs={"rows": 1, "cols": 36}),
            "position": forms.NumberInput(attrs={"style": "width: 4em"}),
        }


def _effective_direction(job_direction: str, mapping_direction: str) -> str | None:
    """The directions a mapping really carries within its job (None: none at all)."""
    if job_direction == "both":
        return mapping_direction
    if mapping_direction in (job_direction, "both"):
        return job_direction
    return None


class FieldMappingFormSet(forms.BaseInlineFormSet):  # type: ignore[type-arg]  # untyped admin
    """The job's mappings: each column and property must exist and meet (`check_mapping`)."""

    def clean(self) -> None:
        super().clean()
        job: SyncJob = self.instance
        rows = [
            form
            for form in self.forms
            if form.cleaned_data
            and not form.cleaned_data.get("DELETE")
            and form.cleaned_data.get("column")
            and form.cleaned_data.get("property")
        ]
        if not rows or job.service_id is None or job.account_id is None or not job.table:
            return
        try:
            target = job_target(job)
        except Problem:
            return  # the job form shows it
        pushed: dict[str, str] = {}
        pulled: dict[str, str] = {}
        for form in rows:
            self._check_row(form, job, target, pushed, pulled)

    def _check_row(
        self,
        form: forms.ModelForm,  # type: ignore[type-arg]  # untyped admin
        job: SyncJob,
        target: JobTarget,
        pushed: dict[str, str],
        pulled: dict[str, str],
    ) -> None:
        data = form.cleaned_data
        row = FieldMappingRow(**{name: data.get(name) for name in FieldMappingForm.Meta.fields})
        column = target.table.column(row.column)
        prop = target.properties.get(row.property)
        if column is None:
            form.add_error("column", f"'{row.column}' is not a column of '{target.table.name}'.")
        if prop is None:
            form.add_error(
                "property", f"HubSpot {job.object_type} have no property '{row.property}'."
            )
        direction = _effective_direction(job.direction, row.direction)
        if direction is None:
            form.add_error(
                "direction", f"The job only goes {job.direction}; this mapping never runs."
            )
        if column is None or prop is None or direction is None:
            return
        mapping = replace(row.mapping(), direction=direction)  # type: ignore[arg-type]  # choices
        seen_property = pushed.get(prop.name) if direction in ("push", "both") else None
        if seen_property is not None:
            form.add_error("property", f"'{prop.name}' is already pushed from '{seen_property}'.")
        seen_column = pulled.get(column.name) if direction in ("pull", "both") else None
        if seen_column is not None:
            form.add_error("column", f"'{column.name}' is already pulled from '{seen_column}'.")
        if direction in ("push", "both"):
            pushed.setdefault(prop.name, column.name)
        if direction in ("pull", "both"):
            pulled.setdefault(column.name, prop.name)
        for problem in mapping_problems(mapping, column, prop):
            field = problem.field if problem.field in form.fields else None
            form.add_error(field, problem.message)
