"""Django admin registrations for `services`.

One rule: the database password is write-only here. The form never renders
it (nor its token), a blank field keeps the stored one, and the buttons and
actions show only the clean messages of `services.probe`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import URLPattern, path, reverse

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
class ServiceAdmin(admin.ModelAdmin):  # type: ignore[type-arg]  # ModelAdmin generics unused
    """Database services: connection settings, limits, and test/refresh buttons."""

    form = ServiceAdminForm
    list_display = ("name", "label", "host", "database", "active")
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

    def get_urls(self) -> list[URLPattern]:
        """Add `<pk>/test-connection/` and `<pk>/refresh-schema/` before the default URLs."""
        info = (self.opts.app_label, self.opts.model_name)
        wrap: Callable[..., Any] = self.admin_site.admin_view
        custom = [
            path(
                "<path:object_id>/test-connection/",
                wrap(self.test_connection_view),
                name="{}_{}_test_connection".format(*info),
            ),
            path(
                "<path:object_id>/refresh-schema/",
                wrap(self.refresh_schema_view),
                name="{}_{}_refresh_schema".format(*info),
            ),
        ]
        return custom + super().get_urls()

    # --- change-page buttons (POST only; admin_view adds login and CSRF checks) ---

    def test_connection_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Test the service's connection and go back to its change page with the result."""
        return self.run_on_one(request, object_id, check_connection)

    def refresh_schema_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Refresh the service's schema snapshot and go back to its change page."""
        return self.run_on_one(request, object_id, check_schema)

    def run_on_one(
        self,
        request: HttpRequest,
        object_id: str,
        check: Callable[[Service], ProbeResult | RefreshResult],
    ) -> HttpResponse:
        """Run `check` on one service for a POST, report it, and redirect to its change page."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        service = self.get_object(request, unquote(object_id))
        if service is None:
            self.message_user(request, f"No service with ID '{object_id}'.", messages.WARNING)
            return HttpResponseRedirect(self.admin_url("changelist"))
        if not self.has_change_permission(request, service):
            raise PermissionDenied
        self.report(request, service, check(service))
        return HttpResponseRedirect(self.admin_url("change", quote(service.pk)))

    def admin_url(self, view: str, *args: str) -> str:
        """Return the URL of this admin's `view` ("change", "changelist" …)."""
        return reverse(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_{view}",
            args=args,
            current_app=self.admin_site.name,
        )

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
