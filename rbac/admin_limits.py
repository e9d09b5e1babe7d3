"""Django admin for rate limits: the limits themselves, their live counters, and resetting them.

One rule: the counters page and the reset act on Redis through `rbac.limits`
only, so they show and clear exactly what the API counts; Redis being down
is reported as a message, never an error page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import redis
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template import engines
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils.html import format_html

from config.admin_buttons import admin_url
from rbac import limits as rate_limits
from rbac.limits import Counter, limit_counters, limit_info, limit_reset
from rbac.models import App, Limit

COUNTERS_PAGE = """{% extends "admin/base_site.html" %}
{% load admin_urls %}
{% block extrahead %}{{ block.super }}<meta http-equiv="refresh" content="10">{% endblock %}
{% block breadcrumbs %}
<div class="breadcrumbs">
  <a href="{% url 'admin:index' %}">Home</a>
  &rsaquo; <a href="{% url 'admin:app_list' app_label=opts.app_label %}">{{ opts.app_config.verbose_name }}</a>
  &rsaquo; <a href="{% url opts|admin_urlname:'changelist' %}">{{ opts.verbose_name_plural|capfirst }}</a>
  &rsaquo; Live counters
</div>
{% endblock %}
{% block content %}
<div id="content-main" class="sg-limit-counters">
  <p>Calls counted in each limit's current window; this page refreshes every 10 seconds.</p>
  {% for row in rows %}
  <section class="module" id="limit-{{ row.limit.pk }}">
    <h2>{{ row.limit.name }}: {{ row.limit.rate }} per {{ row.period }}{% if row.limit.verb %} ({{ row.limit.verb }}){% endif %}{% if not row.limit.active %}, inactive{% endif %}</h2>
    <p>{{ row.scope }}. The window resets in <span class="sg-reset">{{ row.reset }}</span> s, at {{ row.reset_at|date:"Y-m-d H:i:s" }} UTC.</p>
    <table>
      <thead><tr><th>counter</th><th>calls</th><th>remaining</th></tr></thead>
      <tbody>
      {% for counter in row.counters %}
        <tr class="sg-counter"><td>{{ counter.label }}</td><td>{{ counter.count }}</td><td>{{ counter.remaining }}</td></tr>
      {% empty %}
        <tr><td colspan="3">No calls counted in this window.</td></tr>
      {% endfor %}
      </tbody>
    </table>
    {% if can_reset %}
    <form method="post">{% csrf_token %}
      <input type="hidden" name="reset" value="{{ row.limit.pk }}">
      <input type="submit" value="Reset these counters">
    </form>
    {% endif %}
  </section>
  {% empty %}
  <p>No limits.</p>
  {% endfor %}
</div>
{% endblock %}
"""


@cache
def counters_template() -> Any:
    """The counters page's template, compiled once (not at import: settings may not be ready)."""
    return engines["django"].from_string(COUNTERS_PAGE)


@dataclass(frozen=True, slots=True)
class CounterRow:
    """One counter as the page shows it: whose it is, in words."""

    label: str
    count: int
    remaining: int


@dataclass(frozen=True, slots=True)
class LimitRow:
    """One limit on the counters page."""

    limit: Limit
    scope: str
    period: str
    reset: int
    reset_at: datetime
    counters: tuple[CounterRow, ...]


def counter_labels(counters: list[Counter]) -> dict[str, str]:
    """Return each counter's subject in words (two queries at most, for all of them)."""
    user_ids = [int(c.subject[5:]) for c in counters if c.subject.startswith("user:")]
    app_ids = [int(c.subject[4:]) for c in counters if c.subject.startswith("app:")]
    user_model = get_user_model()
    users = dict(
        user_model._default_manager.filter(pk__in=user_ids).values_list(
            "pk", user_model.USERNAME_FIELD
        )
    )
    apps = dict(App.objects.filter(pk__in=app_ids).values_list("pk", "name"))
    labels = {}
    for counter in counters:
        kind, _, ident = counter.subject.partition(":")
        if kind == "user":
            labels[counter.subject] = f"user {users.get(int(ident), f'#{ident} (deleted)')}"
        elif kind == "app":
            name = apps.get(int(ident), f"#{ident} (deleted)")
            labels[counter.subject] = f"app {name}, calls without a user"
        else:
            labels[counter.subject] = "every caller"
    return labels


@admin.register(Limit)
class LimitAdmin(admin.ModelAdmin[Limit]):
    """Rate limits; "live counters" shows what Redis counts now, the action resets them."""

    list_display = ("name", "active", "scope", "allowance", "verb_shown", "target", "counters")
    list_filter = ("active", "scope", "period", "verb")
    search_fields = ("name", "description", "endpoint")
    list_select_related = ("app", "role", "user", "service")
    actions = ("reset_counters",)
    fieldsets = (
        (None, {"fields": ("name", "description", "active")}),
        ("Limit", {"fields": ("scope", "rate", "period", "verb")}),
        (
            "Counted calls",
            {
                "description": "Fill in what the scope names and leave the rest empty: "
                "the app, role or service of app/role/service scopes, the service and "
                "endpoint of endpoint scopes (a trailing * matches by prefix), the user of "
                "'one user' scopes. 'Each user' scopes count every user separately.",
                "fields": ("app", "role", "service", "endpoint", "user"),
            },
        ),
    )

    @admin.display(description="allowed")
    def allowance(self, limit: Limit) -> str:
        return f"{limit.rate} per {limit.get_period_display().lower()}"

    @admin.display(description="verb", ordering="verb")
    def verb_shown(self, limit: Limit) -> str:
        return limit.verb or "every verb"

    @admin.display(description="counts")
    def target(self, limit: Limit) -> str:
        parts = [
            f"{name} {value}"
            for name, value in (
                ("app", limit.app),
                ("role", limit.role),
                ("service", limit.service),
                ("endpoint", limit.endpoint),
                ("user", limit.user),
            )
            if value
        ]
        return ", ".join(parts) or "every call"

    @admin.display(description="live counters")
    def counters(self, limit: Limit) -> str:
        return format_html(
            '<a href="{}?limit={}">counters</a>', admin_url(self, "counters"), limit.pk
        )

    def get_urls(self) -> list[URLPattern]:
        """Add `counters/` before the default URLs."""
        name = f"{self.opts.app_label}_{self.opts.model_name}_counters"
        view = self.admin_site.admin_view(self.counters_view)
        return [path("counters/", view, name=name), *super().get_urls()]

    @admin.action(description="Reset the counters of the selected limits")
    def reset_counters(self, request: HttpRequest, queryset: QuerySet[Limit]) -> None:
        try:
            cleared = sum(limit_reset(limit.pk) for limit in queryset)
        except redis.RedisError:
            self.message_user(request, "Redis is unavailable; nothing was reset.", messages.ERROR)
            return
        self.message_user(request, f"Counters reset ({cleared} cleared).", messages.SUCCESS)

    def counters_view(self, request: HttpRequest) -> HttpResponse:
        """Show each limit's counters in its current window; POST `reset=<id>` clears one."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        can_reset = self.has_change_permission(request)
        if request.method == "POST":
            if not can_reset:
                raise PermissionDenied
            limit = self.get_object(request, request.POST.get("reset", ""))
            if limit is None:
                self.message_user(request, "No such limit.", messages.WARNING)
            else:
                try:
                    cleared = limit_reset(limit.pk)
                except redis.RedisError:
                    self.message_user(
                        request, "Redis is unavailable; nothing was reset.", messages.ERROR
                    )
                else:
                    self.message_user(
                        request, f"Counters of {limit.name} reset ({cleared} cleared)."
                    )
            return HttpResponseRedirect(request.get_full_path())
        limits = self.get_queryset(request).select_related("service")
        wanted = request.GET.get("limit", "")
        if wanted.isdigit():
            limits = limits.filter(pk=int(wanted))
        rows = []
        moment = rate_limits.now()  # looked up on each call: the clock can be replaced
        try:
            for limit in limits:
                reset, counters = limit_counters(limit_info(limit), at=moment)
                labels = counter_labels(counters)
                rows.append(
                    LimitRow(
                        limit=limit,
                        scope=limit.get_scope_display(),
                        period=limit.get_period_display().lower(),
                        reset=reset,
                        reset_at=datetime.fromtimestamp(moment, UTC) + timedelta(seconds=reset),
                        counters=tuple(
                            CounterRow(labels[c.subject], c.count, c.remaining) for c in counters
                        ),
                    )
                )
        except redis.RedisError:
            self.message_user(
                request, "Redis is unavailable; the counters cannot be shown.", messages.ERROR
            )
            rows = []
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Live counters of rate limits",
            "rows": rows,
            "can_reset": can_reset,
        }
        return TemplateResponse(request, counters_template(), context)
