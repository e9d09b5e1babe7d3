"""`import_config`: apply a configuration document idempotently, in one transaction.

One rule: only what differs from the document is written, and every
difference is reported; importing the same document again writes and
reports nothing. References to services, roles, apps and users are checked
before the first write, and any later failure (a model's own validation)
rolls the whole import back.
"""

from __future__ import annotations

import hmac
import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models, transaction

from config.crypto import DecryptionError
from rbac.config_io.document import (
    ConfigError,
    Document,
    EntitySpec,
    LimitSpec,
    LookupSpec,
    RuleSpec,
    UserAppRoleSpec,
    document_parse,
    lookup_label,
)
from rbac.config_io.export import rule_order, rule_values
from rbac.config_io.yaml_format import yaml_load
from rbac.keys import key_digest, set_app_key
from rbac.models import AccessRule, App, Limit, Lookup, Role, UserAppRole
from services.models import Service

# What the report calls each kind of entity, in the order it applies them: one, many.
KINDS = {
    "service": "services",
    "role": "roles",
    "app": "apps",
    "user app role": "user app roles",
    "lookup": "lookups",
    "limit": "limits",
}
# A limit's references to other entities, by the name the document uses.
LIMIT_REFERENCES = ("app", "role", "user", "service")


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import changed (`changes`, one line each) and how much it left as it was."""

    changes: tuple[str, ...]
    unchanged: tuple[str, ...]  # e.g. "unchanged: 3 apps"
    dry_run: bool

    def lines(self) -> tuple[str, ...]:
        """Return the report as console lines."""
        tail = () if self.changes else ("no changes",)
        return (*self.changes, *self.unchanged, *tail)


def import_config(text: str, *, dry_run: bool = False) -> ImportReport:
    """Apply the YAML document `text`; return what changed (all rolled back when `dry_run`).

    Raises ConfigError, with nothing written, when the document is invalid,
    names a missing service, role, app, user or environment variable, or an
    entity fails its model's validation.
    """
    document = document_parse(yaml_load(text))
    importer = _Importer()
    with transaction.atomic():
        importer.check_references(document)
        importer.apply(document)
        if dry_run:
            transaction.set_rollback(True)
    return importer.report(dry_run=dry_run)


class _Importer:
    """One import's progress: what it changed so far, and what it found as the document says."""

    def __init__(self) -> None:
        self.changes: list[str] = []
        self.unchanged: Counter[str] = Counter()
        self.services: dict[str, Service] = {}

    def report(self, *, dry_run: bool) -> ImportReport:
        unchanged = tuple(
            f"unchanged: {count} {kind if count == 1 else plural}"
            for kind, plural in KINDS.items()
            if (count := self.unchanged[kind])
        )
        return ImportReport(tuple(self.changes), unchanged, dry_run)

    def record(
        self, kind: str, label: str, *, created: bool, changes: list[str], detail: str = ""
    ) -> None:
        if created:
            self.changes.append(f"created {kind} {label}{detail}")
        elif changes:
            self.changes.extend(f"updated {kind} {label}: {change}" for change in changes)
        else:
            self.unchanged[kind] += 1

    def check_references(self, document: Document) -> None:
        """Raise ConfigError for a name that is neither in the document nor stored."""
        services = {item.name for item in document.services} | _stored_names(Service)
        roles = {item.name for item in document.roles} | _stored_names(Role)
        apps = {item.name for item in document.apps} | _stored_names(App)
        user_model = get_user_model()
        wanted = (
            {item.username for item in document.user_app_roles}
            | {item.owner for item in document.lookups if item.scope == "user"}
            | {item.values["user"] for item in document.limits if item.values.get("user")}
        )
        users = set(
            user_model._default_manager.filter(
                **{f"{user_model.USERNAME_FIELD}__in": wanted}
            ).values_list(user_model.USERNAME_FIELD, flat=True)
        )
        known = {"service": services, "role": roles, "app": apps, "user": users}

        def require(kind: str, name: str | None, path: str) -> None:
            if name is not None and name not in known[kind]:
                hint = " (the import does not create users)" if kind == "user" else ""
                raise ConfigError(path, f"no {kind} {name!r}{hint}")

        for role in document.roles:
            for rule in role.rules or ():
                require("service", rule.values["service"], f"{rule.path}.service")
        for app in document.apps:
            require("role", app.values.get("default_role"), f"{app.path}.default_role")
        for item in document.user_app_roles:
            require("user", item.username, f"{item.path}.username")
            require("app", item.app, f"{item.path}.app")
            require("role", item.role, f"{item.path}.role")
        for lookup in document.lookups:
            if lookup.scope != "system":
                require(lookup.scope, lookup.owner, f"{lookup.path}.scope.{lookup.scope}")
        for limit in document.limits:
            for kind in LIMIT_REFERENCES:
                require(kind, limit.values.get(kind), f"{limit.path}.{kind}")

    def apply(self, document: Document) -> None:
        """Write the document, in dependency order (rules name services, apps name roles …)."""
        for spec in document.services:
            self.apply_service(spec)
        for spec in document.roles:
            self.apply_role(spec)
        for spec in document.apps:
            self.apply_app(spec)
        for item in document.user_app_roles:
            self.apply_user_app_role(item)
        for lookup in document.lookups:
            self.apply_lookup(lookup)
        for limit in document.limits:
            self.apply_limit(limit)

    def apply_service(self, spec: EntitySpec) -> None:
        service = Service.objects.filter(name=spec.name).first()
        created = service is None
        if service is None:
            missing = [name for name in ("host", "database", "username") if name not in spec.values]
            missing += [] if spec.secret else ["password"]
            if missing:
                raise ConfigError(spec.path, f"a new service needs {', '.join(missing)}")
            service = Service(name=spec.name, label=spec.name)
        changes = _assign(service, spec.values)
        if spec.secret is not None and (created or not _same_password(service, spec.secret)):
            service.set_password(spec.secret)
            changes.append("password changed")
        if created or changes:
            _validate(service, spec.path)
            service.save()
        self.services[service.name] = service
        self.record("service", spec.name, created=created, changes=changes)

    def apply_role(self, spec: EntitySpec) -> None:
        role = Role.objects.filter(name=spec.name).first()
        created = role is None
        if role is None:
            role = Role(name=spec.name)
        changes = _assign(role, spec.values)
        if created or changes:
            _validate(role, spec.path)
            role.save()
        detail = ""
        if spec.rules is not None:
            changes += self.replace_rules(role, spec.rules)
            count = len(spec.rules)
            detail = f" with {count} rule{'' if count == 1 else 's'}" if count else ""
        self.record("role", spec.name, created=created, changes=changes, detail=detail)

    def replace_rules(self, role: Role, specs: tuple[RuleSpec, ...]) -> list[str]:
        """Make `role`'s rules exactly `specs`; return what was added, changed and removed.

        A stored rule equal to a wanted one is kept first, so merely reordered
        rules are no change; then rules on the same service and component are
        changed in place; the rest are added or removed.
        """
        stored = sorted(role.rules.select_related("service"), key=rule_order)
        current = {rule.pk: rule_values(rule) for rule in stored}
        free = list(stored)
        pending = []
        for spec in specs:
            same = next((rule for rule in free if current[rule.pk] == spec.values), None)
            if same is None:
                pending.append(spec)
            else:
                free.remove(same)
        changes = []
        for spec in pending:
            where = (spec.values["service"], spec.values["component"])
            rule = next(
                (
                    r
                    for r in free
                    if (current[r.pk]["service"], current[r.pk]["component"]) == where
                ),
                None,
            )
            if rule is None:
                rule = AccessRule(role=role)
                changes.append(f"added rule {_rule_label(spec.values)}")
            else:
                free.remove(rule)
                old = current[rule.pk]
                changes.extend(
                    f"rule {_rule_label(old)}: {name} {_show(old[name])} -> {_show(new)}"
                    for name, new in spec.values.items()
                    if old[name] != new
                )
            self.write_rule(rule, spec)
        for rule in free:
            changes.append(f"removed rule {_rule_label(current[rule.pk])}")
            rule.delete()
        return changes

    def write_rule(self, rule: AccessRule, spec: RuleSpec) -> None:
        values = dict(spec.values)
        service = values.pop("service")
        if service is not None and service not in self.services:
            self.services[service] = Service.objects.get(name=service)
        rule.service = self.services[service] if service is not None else None
        for name, value in values.items():
            setattr(rule, name, value)
        _validate(rule, spec.path)
        rule.save()

    def apply_app(self, spec: EntitySpec) -> None:
        app = App.objects.select_related("default_role").filter(name=spec.name).first()
        created = app is None
        if app is None:
            app = App(name=spec.name)
        values = dict(spec.values)
        role_given = "default_role" in values
        wanted = values.pop("default_role", None)
        changes = _assign(app, values)
        if role_given:
            current = app.default_role.name if app.default_role else None
            if wanted != current:
                changes.append(f"default_role {_show(current)} -> {_show(wanted)}")
                app.default_role = Role.objects.get(name=wanted) if wanted is not None else None
        if created or changes:
            _validate(app, spec.path)
            app.save()
        detail = ""
        if spec.secret is not None and key_digest(spec.secret) != app.key_digest:
            changes.append("key replaced" if app.key_digest else "key set")
            detail = " with its key"
            _set_key(app, spec.secret, f"{spec.path}.key")
        self.record("app", spec.name, created=created, changes=changes, detail=detail)

    def apply_user_app_role(self, item: UserAppRoleSpec) -> None:
        user = _user(item.username)
        app, role = App.objects.get(name=item.app), Role.objects.get(name=item.role)
        label = f"{item.username} in {item.app}"
        stored = UserAppRole.objects.select_related("role").filter(user=user, app=app).first()
        if stored is None:
            UserAppRole.objects.create(user=user, app=app, role=role)
            self.record("user app role", label, created=True, changes=[], detail=f" ({role})")
            return
        changes = []
        if stored.role_id != role.pk:
            changes.append(f"role {_show(stored.role.name)} -> {_show(role.name)}")
            stored.role = role
            stored.save()
        self.record("user app role", label, created=False, changes=changes)

    def apply_lookup(self, spec: LookupSpec) -> None:
        owner: dict[str, Any] = {"app": None, "role": None, "user": None}
        if spec.scope == "app":
            owner["app"] = App.objects.get(name=spec.owner)
        elif spec.scope == "role":
            owner["role"] = Role.objects.get(name=spec.owner)
        elif spec.scope == "user":
            owner["user"] = _user(spec.owner or "")
        lookup = Lookup.objects.filter(key=spec.key, **owner).first()
        created = lookup is None
        if lookup is None:
            lookup = Lookup(key=spec.key, **owner)
        hidden = lookup.private or spec.values.get("private", False)
        changes = []
        for name, new in spec.values.items():
            old = getattr(lookup, name)
            if old != new:
                secret = name == "value" and hidden
                changes.append(
                    "value changed" if secret else f"{name} {_show(old)} -> {_show(new)}"
                )
                setattr(lookup, name, new)
        if created or changes:
            _validate(lookup, spec.path)
            lookup.save()
        self.record("lookup", lookup_label(spec), created=created, changes=changes)

    def apply_limit(self, spec: LimitSpec) -> None:
        limit = Limit.objects.select_related(*LIMIT_REFERENCES).filter(name=spec.name).first()
        created = limit is None
        if limit is None:
            missing = [name for name in ("scope", "rate") if name not in spec.values]
            if missing:
                raise ConfigError(spec.path, f"a new limit needs {', '.join(missing)}")
            limit = Limit(name=spec.name)
        values = dict(spec.values)
        references = {kind: values.pop(kind) for kind in LIMIT_REFERENCES if kind in values}
        changes = _assign(limit, values)
        for kind, wanted in references.items():
            current = _limit_reference(limit, kind)
            if wanted != current:
                changes.append(f"{kind} {_show(current)} -> {_show(wanted)}")
                setattr(limit, kind, _entity(kind, wanted) if wanted is not None else None)
        if created or changes:
            _validate(limit, spec.path)
            limit.save()
        self.record("limit", spec.name, created=created, changes=changes)


def _limit_reference(limit: Limit, kind: str) -> str | None:
    """Return the name of the app, role, user or service a limit names (None: none)."""
    if getattr(limit, f"{kind}_id") is None:
        return None
    target = getattr(limit, kind)
    return str(target.get_username() if kind == "user" else target.name)


def _entity(kind: str, name: str) -> Any:
    if kind == "user":
        return _user(name)
    model = {"app": App, "role": Role, "service": Service}[kind]
    return model._default_manager.get(name=name)


def _stored_names(model: type[Service | Role | App]) -> set[str]:
    return set(model._default_manager.values_list("name", flat=True))


def _user(username: str) -> Any:
    return get_user_model()._default_manager.get_by_natural_key(username)


def _assign(instance: models.Model, values: Mapping[str, Any]) -> list[str]:
    """Set the fields in `values` that differ; return them as "name old -> new"."""
    changes = []
    for name, new in values.items():
        old = getattr(instance, name)
        if old != new:
            changes.append(f"{name} {_show(old)} -> {_show(new)}")
            setattr(instance, name, new)
    return changes


def _same_password(service: Service, password: str) -> bool:
    try:
        stored = service.get_password()
    except DecryptionError:  # stored under a retired key: the document's password replaces it
        return False
    return hmac.compare_digest(stored.encode(), password.encode())


def _set_key(app: App, key: str, path: str) -> None:
    other = App.objects.filter(key_digest=key_digest(key)).exclude(pk=app.pk).first()
    if other is not None:
        raise ConfigError(path, f"this key is already app {other.name!r}'s key")
    try:
        set_app_key(app, key)
    except ValueError as error:
        raise ConfigError(path, str(error)) from None


def _validate(instance: models.Model, path: str) -> None:
    """Run the model's validation; raise ConfigError at `path` for the first problem."""
    try:
        instance.full_clean()
    except ValidationError as error:
        name, messages = next(iter(error.message_dict.items()))
        name = "password" if name == "password_encrypted" else name
        where = path if name == NON_FIELD_ERRORS else f"{path}.{name}"
        raise ConfigError(where, " ".join(messages)) from None


def _rule_label(values: Mapping[str, Any]) -> str:
    return f"{values['component']} on {values['service'] or 'every service'}"


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)
