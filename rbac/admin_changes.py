"""The admin change trail in the admin: read-only, searchable, filterable by user, model, action, time.

One rule: nobody edits or deletes the trail through the admin; it is written
only by `rbac.audit_changes`.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from rbac.models import AdminChange


def pretty(value: Any) -> SafeString:
    if value is None:
        return format_html("<em>{}</em>", "none")
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True))


@admin.register(AdminChange)
class AdminChangeAdmin(admin.ModelAdmin[AdminChange]):
    """Who changed which configuration, when, and from what to what (secrets masked)."""

    list_display = ("time", "username", "action", "model", "object_repr", "changed_fields")
    list_filter = ("action", "model", "username", "time")
    search_fields = ("username", "model", "object_id", "object_repr")
    date_hierarchy = "time"
    fields = (
        "time",
        "username",
        "user",
        "action",
        "model",
        "object_id",
        "object_repr",
        "before_json",
        "after_json",
    )
    readonly_fields = fields
    list_select_related = ("user",)

    @admin.display(description="fields")
    def changed_fields(self, change: AdminChange) -> str:
        values = change.after if isinstance(change.after, dict) else change.before
        return ", ".join(sorted(values)) if isinstance(values, dict) else ""

    @admin.display(description="before")
    def before_json(self, change: AdminChange) -> SafeString:
        return pretty(change.before)

    @admin.display(description="after")
    def after_json(self, change: AdminChange) -> SafeString:
        return pretty(change.after)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AdminChange | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AdminChange | None = None) -> bool:
        return False
