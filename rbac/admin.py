"""Django admin registrations for `rbac`."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from rbac.keys import revoke_admin_key
from rbac.models import AdminApiKey


@admin.register(AdminApiKey)
class AdminApiKeyAdmin(admin.ModelAdmin[AdminApiKey]):
    """Admin keys are created on the command line (the key is shown once there)."""

    list_display = ("name", "prefix", "user", "created_at", "revoked_at")
    readonly_fields = ("name", "prefix", "user", "created_at", "revoked_at")
    actions = ("revoke",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[AdminApiKey]) -> None:
        for record in queryset.filter(revoked_at__isnull=True):
            revoke_admin_key(record)
        messages.success(request, "Keys revoked.")
