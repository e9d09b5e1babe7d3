"""Django admin registrations for `rbac`: roles and their rules, apps and keys, lookups.

One rule: an app's API key is shown exactly once, in the message of the
request that created it, and never stored or rendered again (only its
prefix and date are); and the "explain" page computes access with the API's
own functions (`rbac.explain`), so what it shows is what the API does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils.html import format_html
from django.utils.text import Truncator

from config.admin_buttons import ObjectButton, ObjectButtonsAdmin, admin_url
from rbac.explain import Explanation, explain_table
from rbac.forms import AccessRuleForm, AppForm, ExplainForm, LookupForm, ServiceSchemas
from rbac.keys import revoke_admin_key, revoke_app_key, set_app_key
from rbac.models import AccessRule, AdminApiKey, App, Lookup, Role, UserAppRole
from rbac.state import current_state
from services.sql.schema import SchemaSnapshot

BASE_COMPONENTS = ("*", "_table/*", "_schema/*", "_proc/*", "_func/*")
MASK = "••••••••"


# --- roles and their rules -------------------------------------------------------


class AccessRuleFormSet(BaseInlineFormSet[AccessRule, Role, ModelForm[AccessRule]]):
    """The role's rules; every form shares one `ServiceSchemas`, so each schema is read once."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.schemas = ServiceSchemas()
        super().__init__(*args, **kwargs)

    def get_form_kwargs(self, index: int | None) -> dict[str, Any]:
        return {**super().get_form_kwargs(index), "schemas": self.schemas}


class AccessRuleInline(admin.StackedInline[AccessRule, Role]):
    """A role's access rules, edited on the role's page."""

    model = AccessRule
    form = AccessRuleForm
    formset = AccessRuleFormSet
    fieldsets = (
        (
            None,
            {
                "fields": (
                    ("service", "component"),
                    ("verbs", "requestors"),
                    "readable_columns",
                    "writable_columns",
                    "row_filter",
                    "presets",
                    "max_page_size",
                )
            },
        ),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[AccessRule]:
        return super().get_queryset(request).select_related("service")

    def get_extra(self, request: HttpRequest, obj: Role | None = None, **kwargs: Any) -> int:
        return 0 if obj is not None else 1


@admin.register(Role)
class RoleAdmin(admin.ModelAdmin[Role]):
    """Roles with their rules inline, the columns of their services' tables, and "explain"."""

    list_display = ("name", "active", "pg_role", "rule_count", "description")
    list_filter = ("active",)
    search_fields = ("name", "description")
    inlines = (AccessRuleInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Role]:
        return super().get_queryset(request).annotate(rule_count=Count("rules"))

    @admin.display(description="rules", ordering="rule_count")
    def rule_count(self, role: Role) -> int:
        return int(getattr(role, "rule_count", 0))

    def get_urls(self) -> list[URLPattern]:
        """Add `<pk>/explain/` before the default URLs."""
        wrap: Callable[..., Any] = self.admin_site.admin_view
        name = f"{self.opts.app_label}_{self.opts.model_name}_explain"
        custom = [path("<path:object_id>/explain/", wrap(self.explain_view), name=name)]
        return custom + super().get_urls()

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Role | None = None,
    ) -> HttpResponse:
        """Add the columns of every table of the rules' services, and component suggestions."""
        loaded: list[tuple[str, SchemaSnapshot]] = []
        for inline in context.get("inline_admin_formsets", ()):
            if isinstance(inline.formset, AccessRuleFormSet):
                loaded = inline.formset.schemas.loaded()
        context["schema_reference"] = [
            (
                service,
                [
                    (name, [column.name for column in snapshot.tables[name].columns])
                    for name in sorted(snapshot.tables)
                ],
            )
            for service, snapshot in loaded
        ]
        context["component_suggestions"] = component_suggestions(loaded)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def save_formset(
        self, request: HttpRequest, form: ModelForm[Role], formset: Any, change: bool
    ) -> None:
        """Save the rules; warn about services whose tables and columns could not be checked."""
        super().save_formset(request, form, formset, change)
        if isinstance(formset, AccessRuleFormSet):
            for name in sorted(formset.schemas.unreachable):
                self.message_user(
                    request,
                    f"The database of service '{name}' could not be reached, so the tables "
                    "and columns of rules on it were not checked.",
                    messages.WARNING,
                )

    def explain_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Show the role's effective policy on one table for a sample caller."""
        role = self.get_object(request, unquote(object_id))
        if role is None:
            self.message_user(request, f"No role with ID '{object_id}'.", messages.WARNING)
            return HttpResponseRedirect(admin_url(self, "changelist"))
        if not self.has_change_permission(request, role):
            raise PermissionDenied
        form = ExplainForm(request.GET.dict(), role=role, schemas=ServiceSchemas())
        explanation: Explanation | None = None
        if form.is_bound and form.is_valid() and form.snapshot is not None:
            data = form.cleaned_data
            try:
                explanation = explain_table(
                    current_state(),
                    role_id=role.pk,
                    service=data["service"].name,
                    snapshot=form.snapshot,
                    table=form.snapshot.tables[data["table"]],
                    verb=data["verb"],
                    requestor=data["requestor"],
                    user_id=data["user"].pk if data["user"] else None,
                    app_id=data["app"].pk if data["app"] else None,
                )
            except KeyError:  # saved a moment ago, not yet in this process's state
                form.add_error(None, "The role's latest changes are not loaded yet; try again.")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": role,
            "title": f"Explain access: {role.name}",
            "form": form,
            "explanation": explanation,
            "change_url": admin_url(self, "change", quote(role.pk)),
        }
        return TemplateResponse(request, "admin/rbac/role/explain.html", context)


def component_suggestions(loaded: list[tuple[str, SchemaSnapshot]]) -> list[str]:
    """Components worth offering while typing: the wildcards, then each table and routine."""
    suggestions = list(BASE_COMPONENTS)
    for _service, snapshot in loaded:
        for name in sorted(snapshot.tables):
            suggestions += [f"_table/{name}", f"_table/{name}/*"]
        for name, routine in sorted(snapshot.routines.items()):
            kind = "_func" if routine.kind == "function" else "_proc"
            suggestions.append(f"{kind}/{name}")
    return list(dict.fromkeys(suggestions))


# --- apps and their keys ------------------------------------------------------------


class UserAppRoleInline(admin.TabularInline[UserAppRole, App]):
    """Users who have their own role when calling through this app."""

    model = UserAppRole
    extra = 0
    autocomplete_fields = ("user", "role")


@admin.register(App)
class AppAdmin(ObjectButtonsAdmin[App]):
    """API clients. The key is generated on creation and shown once; it can be regenerated or revoked."""

    list_display = ("name", "active", "default_role", "key", "key_created_at")
    list_filter = ("active", "default_role")
    search_fields = ("name", "description")
    form = AppForm
    fields = ("name", "description", "active", "default_role", "key", "cors_origins")
    readonly_fields = ("key",)
    inlines = (UserAppRoleInline,)
    actions = ("regenerate_keys", "revoke_keys")
    object_buttons = (
        ObjectButton(
            "regenerate_key",
            "Regenerate key",
            "Replace the key: the current one stops working at once",
        ),
        ObjectButton("revoke_key", "Revoke key", "Remove the key: calls with it are refused"),
    )

    @admin.display(description="key")
    def key(self, app: App) -> str:
        return f"{app.key_prefix}…" if app.key_prefix else "none"

    def save_model(self, request: HttpRequest, obj: App, form: Any, change: bool) -> None:
        """Save the app; a new app gets its key at once."""
        super().save_model(request, obj, form, change)
        if not change:
            self.issue_key(request, obj)

    def issue_key(self, request: HttpRequest, app: App) -> None:
        """Give `app` a new key and show it, this once, in a message."""
        key = set_app_key(app)
        self.message_user(
            request,
            format_html(
                "The API key of app “{}” is <code>{}</code>. Copy it now: it is not shown again.",
                app.name,
                key,
            ),
            messages.SUCCESS,
        )

    @admin.action(description="Regenerate the key of the selected apps", permissions=["change"])
    def regenerate_keys(self, request: HttpRequest, queryset: QuerySet[App]) -> None:
        for app in queryset:
            self.issue_key(request, app)

    @admin.action(description="Revoke the key of the selected apps", permissions=["change"])
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet[App]) -> None:
        for app in queryset:
            revoke_app_key(app)
        self.message_user(request, "Keys revoked: calls with them are refused.", messages.SUCCESS)

    def press(self, request: HttpRequest, obj: App, name: str) -> None:
        """Regenerate or revoke one app's key (the change page's buttons)."""
        action = self.regenerate_keys if name == "regenerate_key" else self.revoke_keys
        action(request, App.objects.filter(pk=obj.pk))


# --- lookups and users' roles -----------------------------------------------------------


class ScopeFilter(admin.SimpleListFilter):
    """Filter lookups by whom they belong to."""

    title = "scope"
    parameter_name = "scope"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("system", "system"), ("app", "app"), ("role", "role"), ("user", "user")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        owners = ("app", "role", "user")
        scope = self.value()
        if scope == "system":
            return queryset.filter(app=None, role=None, user=None)
        if scope in owners:
            return queryset.filter(**{f"{scope}__isnull": False})
        return queryset


@admin.register(Lookup)
class LookupAdmin(admin.ModelAdmin[Lookup]):
    """Values for `{name}` in filters; private ones reach only scripts and are masked in the list."""

    form = LookupForm
    list_display = ("key", "shown_value", "private", "scope")
    list_filter = ("private", ScopeFilter)
    search_fields = ("key",)
    autocomplete_fields = ("app", "role", "user")
    fieldsets = (
        (None, {"fields": ("key", "value", "private")}),
        (
            "Scope",
            {
                "fields": ("app", "role", "user"),
                "description": "Leave all three empty for a system lookup, or choose one. "
                "The most specific wins: user over role over app over system.",
            },
        ),
    )

    @admin.display(description="value")
    def shown_value(self, lookup: Lookup) -> str:
        return MASK if lookup.private else Truncator(lookup.value).chars(60)

    @admin.display(description="scope")
    def scope(self, lookup: Lookup) -> str:
        return lookup.scope


@admin.register(UserAppRole)
class UserAppRoleAdmin(admin.ModelAdmin[UserAppRole]):
    """The role a user has in one app (instead of the app's default role)."""

    list_display = ("user", "app", "role")
    list_filter = ("app", "role")
    search_fields = ("user__username", "user__email", "app__name", "role__name")
    autocomplete_fields = ("user", "app", "role")


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


import rbac.admin_audit  # noqa: E402  (registers the audit trail's read-only admin)
import rbac.admin_changes  # noqa: E402  (registers the admin change trail)
import rbac.admin_limits  # noqa: E402  (registers rate limits and their counters)
import rbac.admin_oauth  # noqa: E402, F401  (registers OAuth clients' links to apps)
