"""`export_config`: the configuration as one YAML document, ordered so exports diff cleanly.

One rule: no secret is ever written. A service's password and a private
lookup's value become `{env: VARIABLE}` references; an app's key and digest
are left out.
"""

from __future__ import annotations

from typing import Any

from rbac.config_io.document import (
    SCOPES,
    SERVICE_FIELDS,
    VERSION,
    lookup_value_var,
    service_password_var,
)
from rbac.config_io.yaml_format import FlowMap, yaml_dump
from rbac.models import AccessRule, App, Limit, Lookup, Role, UserAppRole
from services.models import Service


def export_config() -> str:
    """Return the whole configuration as one YAML document, ordered by name."""
    return yaml_dump(config_document())


def config_document() -> dict[str, Any]:
    """Return the configuration as the plain data `export_config` writes."""
    services = []
    for service in Service.objects.order_by("name"):
        item: dict[str, Any] = {"name": service.name}
        for name in SERVICE_FIELDS:
            item[name] = getattr(service, name)
            if name == "username":
                item["password"] = FlowMap(env=service_password_var(service.name))
        services.append(item)
    roles = []
    for role in Role.objects.order_by("name").prefetch_related("rules__service"):
        rules = sorted(role.rules.all(), key=rule_order)
        roles.append(
            {
                "name": role.name,
                "description": role.description,
                "active": role.active,
                "pg_role": role.pg_role,
                "rules": [rule_values(rule) for rule in rules],
            }
        )
    apps = [
        {
            "name": app.name,
            "description": app.description,
            "active": app.active,
            "default_role": app.default_role.name if app.default_role else None,
        }
        for app in App.objects.order_by("name").select_related("default_role")
    ]
    user_roles = sorted(
        (
            {"username": item.user.get_username(), "app": item.app.name, "role": item.role.name}
            for item in UserAppRole.objects.select_related("user", "app", "role")
        ),
        key=lambda item: (item["username"], item["app"]),
    )
    lookups = []
    for lookup in Lookup.objects.select_related("app", "role", "user"):
        scope, owner = _lookup_scope(lookup)
        value: Any = lookup.value
        if lookup.private:
            value = FlowMap(env=lookup_value_var(lookup.key, scope, owner))
        lookups.append(
            {
                "key": lookup.key,
                "value": value,
                "private": lookup.private,
                "scope": scope if owner is None else FlowMap({scope: owner}),
                "_order": (SCOPES.index(scope), owner or "", lookup.key),
            }
        )
    lookups.sort(key=lambda item: item.pop("_order"))
    return {
        "version": VERSION,
        "services": services,
        "roles": roles,
        "apps": apps,
        "user_app_roles": user_roles,
        "lookups": lookups,
        "limits": [
            limit_values(limit)
            for limit in Limit.objects.order_by("name").select_related(
                "app", "role", "user", "service"
            )
        ],
    }


def rule_order(rule: AccessRule) -> tuple[bool, str, str, int]:
    """Return the sort key of a rule: rules on every service first, then by service, component."""
    service = rule.service.name if rule.service else ""
    return (rule.service is not None, service, rule.component, rule.pk)


def rule_values(rule: AccessRule) -> dict[str, Any]:
    """Return a rule as the document writes it (its service by name)."""
    return {
        "service": rule.service.name if rule.service else None,
        "component": rule.component,
        "verbs": list(rule.verbs),
        "requestors": list(rule.requestors),
        "readable_columns": list(rule.readable_columns)
        if rule.readable_columns is not None
        else None,
        "writable_columns": list(rule.writable_columns)
        if rule.writable_columns is not None
        else None,
        "row_filter": rule.row_filter,
        "presets": rule.presets,
        "max_page_size": rule.max_page_size,
    }


def limit_values(limit: Limit) -> dict[str, Any]:
    """Return a limit as the document writes it (app, role, user and service by name)."""
    return {
        "name": limit.name,
        "description": limit.description,
        "active": limit.active,
        "scope": limit.scope,
        "rate": limit.rate,
        "period": limit.period,
        "verb": limit.verb or None,
        "app": limit.app.name if limit.app else None,
        "role": limit.role.name if limit.role else None,
        "user": limit.user.get_username() if limit.user else None,
        "service": limit.service.name if limit.service else None,
        "endpoint": limit.endpoint,
    }


def _lookup_scope(lookup: Lookup) -> tuple[str, str | None]:
    if lookup.user is not None:
        return "user", lookup.user.get_username()
    if lookup.role is not None:
        return "role", lookup.role.name
    if lookup.app is not None:
        return "app", lookup.app.name
    return "system", None
