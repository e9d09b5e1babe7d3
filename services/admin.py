"""Django admin registrations for `services`.

One rule: the database password is write-only here. The form never renders
it (nor its token), a blank field keeps the stored one, and the buttons and
actions show only the clean messages of `services.probe`.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from config.admin_buttons import ObjectButton, ObjectButtonsAdmin
from services.models import Service
from services.probe import ProbeResult, RefreshResult, check_connection, check_schema

WRITE_ONLY_HELP_ADD = "Write-only: it is stored encrypted and never shown again."
WRITE_ONLY_HELP_CHANGE = (
    "Write-only: the stored password is never shown. "
    "Leave blank to keep the current password; type a new one to replace it."
)


class ServiceAdminForm(forms.ModelForm):  # type: ignore[type-arg]  # admin forms are untyped
    """The service form, plus a write-only `password` field for the encrypted column."""

    password = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=WRITE_ONLY_HELP_CHANGE,
    )

    class Meta:
        model = Service
        fields = (
            "name",
            "label",
            "description",
            "active",
            "host",
            "port",
            "database",
            "username",
            "sslmode",
            "schemas",
            "max_records",
            "pool_min_size",
            "pool_max_size",
            "statement_timeout_ms",
            "assume_roles",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance._state.adding:
            field = self.fields["password"]
            field.required = True
            field.error_messages["required"] = "Enter the database password."
            field.help_text = WRITE_ONLY_HELP_ADD

    def clean_password(self) -> str:
        """Require a password when adding; on change a blank one means "keep"."""
        password: str = self.cleaned_data.get("password") or ""
        if self.instance._state.adding and not password:
            raise forms.ValidationError("Enter the database password.", code="required")
        return password

    def save(self, commit: bool = True) -> Service:
        """Encrypt a newly typed password into the instance, then save as usual."""
        password = self.cleaned_data.get("password")
        if password:
            self.instance.set_password(password)
        service: Service = super().save(commit=commit)
        return service


@admin.register(Service)
class ServiceAdmin(ObjectButtonsAdmin[Service]):
    """Database services: connection settings, limits, and test/refresh buttons."""

    form = ServiceAdminForm
    # The object buttons' page, plus an "Open API docs" link.
    change_form_template = "api_docs/service_change_form.html"
    object_buttons = (
        ObjectButton(
            "test_connection",
            "Test connection",
            "Connect with the saved settings and show the server version",
        ),
        ObjectButton(
            "refresh_schema",
            "Refresh schema",
            "Re-read tables, views and routines from the database",
        ),
    )
    list_display = ("name", "label", "host", "database", "active", "api_docs")
    list_filter = ("active", "sslmode")
    search_fields = ("name", "label", "description", "host", "database")
    readonly_fields = ("created_at", "updated_at")
    actions = ("test_connection_action", "refresh_schema_action")
    fieldsets = (
        (None, {"fields": ("name", "label", "description", "active")}),
        (
            "Connection",
            {"fields": ("host", "port", "database", "username", "password", "sslmode")},
        ),
        (
            "Serving",
            {
                "fields": (
                    "schemas",
                    "max_records",
                    "pool_min_size",
                    "pool_max_size",
                    "statement_timeout_ms",
                    "assume_roles",
                )
            },
        ),
        ("History", {"fields": ("created_at", "updated_at"), "classes": ("collapse",)}),
    )

    @admin.display(description="API docs")
    def api_docs(self, obj: Service) -> SafeString | str:
        """A link to the service's Swagger UI; none for an inactive service (it has no API)."""
        if not obj.active:
            return self.get_empty_value_display()
        url = reverse("api-docs", args=[obj.name])
        return format_html('<a href="{}" target="_blank" rel="noopener">Open API docs</a>', url)

    # --- change-page buttons ---

    def press(self, request: HttpRequest, obj: Service, name: str) -> None:
        """Test the connection or refresh the schema of one service, and report it."""
        check = check_connection if name == "test_connection" else check_schema
        self.report(request, obj, check(obj))

    # --- list actions ---

    @admin.action(description="Test connection", permissions=["change"])
    def test_connection_action(self, request: HttpRequest, queryset: QuerySet[Service]) -> None:
        """Test each selected service's connection."""
        for service in queryset:
            self.report(request, service, check_connection(service))

    @admin.action(description="Refresh schema", permissions=["change"])
    def refresh_schema_action(self, request: HttpRequest, queryset: QuerySet[Service]) -> None:
        """Refresh each selected service's schema snapshot."""
        for service in queryset:
            self.report(request, service, check_schema(service))

    def report(
        self, request: HttpRequest, service: Service, result: ProbeResult | RefreshResult
    ) -> None:
        """Show `result` as a success or error message naming the service.

        A connection test's warnings (privileges that get past row-level
        security) follow it, one warning message each.
        """
        level = messages.SUCCESS if result.ok else messages.ERROR
        self.message_user(request, f"Service '{service.name}': {result.message}", level)
        if isinstance(result, ProbeResult):
            for warning in result.warnings:
                self.message_user(request, f"Service '{service.name}' {warning}.", messages.WARNING)


from services import admin_scripts  # noqa: E402, F401  (registers the event scripts' admin)
