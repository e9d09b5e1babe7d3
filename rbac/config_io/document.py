"""The document `import_config` reads: its checked values, and the checks that build them.

One rule: everything that can be known without the database is checked
here, before the import writes anything: keys, types, verbs, requestors,
row filters, names given twice, and the environment variables the document
references (read here, so a missing one stops the import at once). Each
problem is a ConfigError naming its path, e.g. `roles[1].rules[0].verbs`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rbac.keys import key_digest
from rbac.models import REQUESTORS, VERBS, Limit
from services.sql.errors import QueryError
from services.sql.parse import ParseError, parse_filter

VERSION = 1
SECTIONS = ("services", "roles", "apps", "user_app_roles", "lookups", "limits")
SCOPES = ("system", "app", "role", "user")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
SERVICE_FIELDS = (
    "label",
    "description",
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
    "active",
)

Check = Callable[[Any, str], Any]


class ConfigError(Exception):
    """A document that cannot be imported; `path` says where, e.g. `roles[1].rules[0].verbs`."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


def _env_part(text: str) -> str:
    return re.sub(r"[^A-Z0-9]+", "_", text.upper()).strip("_")


def service_password_var(name: str) -> str:
    """Return the variable the export names for service `name`'s password."""
    return f"SLUICEGATE_SERVICE_{_env_part(name)}_PASSWORD"


def lookup_value_var(key: str, scope: str, owner: str | None) -> str:
    """Return the variable the export names for a private lookup's value."""
    parts = [scope, owner] if owner is not None else []
    return "_".join(["SLUICEGATE_LOOKUP", *(_env_part(part) for part in parts), _env_part(key)])


@dataclass(frozen=True, slots=True)
class EntitySpec:
    """One service, role or app of a document: the fields it states, and where it is."""

    path: str
    name: str
    values: Mapping[str, Any]
    secret: str | None = field(default=None, repr=False)  # a service's password, an app's key
    rules: tuple[RuleSpec, ...] | None = None  # a role's rules; None: keep the stored ones


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """One rule of a role, every field given (defaults filled in)."""

    path: str
    values: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class UserAppRoleSpec:
    """The role a user has in an app, all by name."""

    path: str
    username: str
    app: str
    role: str


@dataclass(frozen=True, slots=True)
class LookupSpec:
    """A lookup: its key, its scope (`system`, or `app`/`role`/`user` and the owner's name),
    and the fields it states (`value` already read from the environment when referenced)."""

    path: str
    key: str
    scope: str
    owner: str | None
    values: Mapping[str, Any] = field(repr=False)


@dataclass(frozen=True, slots=True)
class LimitSpec:
    """A rate limit: its name, and the fields it states (app, role, user, service by name)."""

    path: str
    name: str
    values: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Document:
    """A checked document: every type, name and reference to the environment is valid."""

    services: tuple[EntitySpec, ...]
    roles: tuple[EntitySpec, ...]
    apps: tuple[EntitySpec, ...]
    user_app_roles: tuple[UserAppRoleSpec, ...]
    lookups: tuple[LookupSpec, ...]
    limits: tuple[LimitSpec, ...] = ()


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    names = {
        dict: "a mapping",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "an integer",
    }
    return names.get(type(value), f"a value of type {type(value).__name__}")


def _text(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(path, f"expected a string, got {_kind(value)}")
    return value


def _integer(value: Any, path: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ConfigError(path, "expected an integer of at least 0")
        return value
    raise ConfigError(path, f"expected an integer, got {_kind(value)}")


def _boolean(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(path, f"expected true or false, got {_kind(value)}")
    return value


def _optional(check: Check) -> Check:
    return lambda value, path: None if value is None else check(value, path)


def _list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise ConfigError(path, f"expected a list, got {_kind(value)}")
    return value


def _text_list(value: Any, path: str) -> list[str]:
    return [_text(item, f"{path}[{i}]") for i, item in enumerate(_list(value, path))]


def _choices(allowed: tuple[str, ...], noun: str) -> Check:
    def check(value: Any, path: str) -> list[str]:
        items = _text_list(value, path)
        for item in items:
            if item.upper() not in allowed:
                raise ConfigError(path, f"unknown {noun} {item!r} (one of {', '.join(allowed)})")
        return items

    return check


def _row_filter(value: Any, path: str) -> str:
    text = _text(value, path)
    if text.strip():
        try:
            parse_filter(text)
        except (ParseError, QueryError) as error:
            raise ConfigError(path, f"invalid row filter: {error}") from None
    return text


def _presets(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(path, f"expected a mapping, got {_kind(value)}")
    try:
        as_json = json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError):
        as_json = None
    if as_json != value:
        raise ConfigError(path, "expected column names mapped to JSON values")
    return value


def _mapping(
    value: Any, path: str, allowed: Iterable[str], required: Iterable[str] = ()
) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(path, f"expected a mapping, got {_kind(value)}")
    allowed = tuple(allowed)
    for key in value:
        if key not in allowed:
            raise ConfigError(_join(path, str(key)), f"unknown key (expected {', '.join(allowed)})")
    for key in required:
        if key not in value:
            raise ConfigError(_join(path, key), "required")
    return value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _from_env(value: Any, path: str) -> str:
    """Return the value of the variable an `{env: VAR}` reference names."""
    ref = _mapping(value, path, ("env",), ("env",))
    var = _text(ref["env"], f"{path}.env")
    if not ENV_NAME.match(var):
        raise ConfigError(f"{path}.env", f"{var!r} is not an environment variable name")
    resolved = os.environ.get(var)
    if resolved is None:
        raise ConfigError(path, f"environment variable {var} is not set")
    return resolved


def _secret(value: Any, path: str) -> str:
    if not isinstance(value, dict):
        raise ConfigError(path, "expected {env: VARIABLE}; secrets are never written in the file")
    resolved = _from_env(value, path)
    if not resolved:
        raise ConfigError(path, f"environment variable {value['env']} is empty")
    return resolved


def _fields(raw: Mapping[str, Any], path: str, schema: Mapping[str, Check]) -> dict[str, Any]:
    return {
        name: check(raw[name], f"{path}.{name}") for name, check in schema.items() if name in raw
    }


SERVICE_SCHEMA: dict[str, Check] = {
    name: _integer
    if name in {"port", "max_records", "pool_min_size", "pool_max_size", "statement_timeout_ms"}
    else _boolean
    if name in {"assume_roles", "active"}
    else _text
    for name in SERVICE_FIELDS
}
ROLE_SCHEMA: dict[str, Check] = {"description": _text, "active": _boolean, "pg_role": _text}
APP_SCHEMA: dict[str, Check] = {
    "description": _text,
    "active": _boolean,
    "default_role": _optional(_text),
}
RULE_SCHEMA: dict[str, Check] = {
    "service": _optional(_text),
    "component": _text,
    "verbs": _choices(VERBS, "verb"),
    "requestors": _choices(REQUESTORS, "requestor"),
    "readable_columns": _optional(_text_list),
    "writable_columns": _optional(_text_list),
    "row_filter": _row_filter,
    "presets": _presets,
    "max_page_size": _optional(_integer),
}
RULE_DEFAULTS: dict[str, Any] = {
    "service": None,
    "component": "*",
    "verbs": list(VERBS),
    "requestors": ["API"],
    "readable_columns": None,
    "writable_columns": None,
    "row_filter": "",
    "presets": {},
    "max_page_size": None,
}


LIMIT_SCOPES = tuple(scope for scope, _label in Limit.SCOPES)
LIMIT_PERIODS = tuple(period for period, _label in Limit.PERIODS)


def _one_of(allowed: tuple[str, ...], noun: str) -> Check:
    def check(value: Any, path: str) -> str:
        text = _text(value, path)
        if text not in allowed:
            raise ConfigError(path, f"unknown {noun} {text!r} (one of {', '.join(allowed)})")
        return text

    return check


def _limit_verb(value: Any, path: str) -> str:
    """A verb, or null / "" for every verb."""
    text = "" if value is None else _text(value, path).upper()
    if text and text not in VERBS:
        raise ConfigError(path, f"unknown verb {value!r} (one of {', '.join(VERBS)}, or null)")
    return text


LIMIT_SCHEMA: dict[str, Check] = {
    "description": _text,
    "active": _boolean,
    "scope": _one_of(LIMIT_SCOPES, "scope"),
    "rate": _integer,
    "period": _one_of(LIMIT_PERIODS, "period"),
    "verb": _limit_verb,
    "app": _optional(_text),
    "role": _optional(_text),
    "user": _optional(_text),
    "service": _optional(_text),
    "endpoint": lambda value, path: "" if value is None else _text(value, path),
}


def document_parse(data: Any) -> Document:
    """Check a loaded YAML document and read the secrets it references from the environment.

    Raises ConfigError naming the first problem's path.
    """
    if not isinstance(data, dict):
        raise ConfigError("", "the document must be a mapping starting with `version: 1`")
    top = _mapping(data, "", ("version", *SECTIONS), ("version",))
    if type(top["version"]) is not int or top["version"] != VERSION:
        raise ConfigError("version", f"unsupported version {top['version']!r} (expected 1)")
    sections = {name: _list(top.get(name, []), name) for name in SECTIONS}
    services = []
    for i, raw in enumerate(sections["services"]):
        path = f"services[{i}]"
        item = _mapping(raw, path, ("name", *SERVICE_FIELDS, "password"), ("name",))
        password = _secret(item["password"], f"{path}.password") if "password" in item else None
        name = _text(item["name"], f"{path}.name")
        values = _fields(item, path, SERVICE_SCHEMA)
        services.append(EntitySpec(path, name, values, secret=password))

    roles = []
    for i, raw in enumerate(sections["roles"]):
        path = f"roles[{i}]"
        item = _mapping(raw, path, ("name", *ROLE_SCHEMA, "rules"), ("name",))
        rules = None
        if "rules" in item:
            rules = tuple(
                _rule_parse(rule, f"{path}.rules[{j}]")
                for j, rule in enumerate(_list(item["rules"], f"{path}.rules"))
            )
        name = _text(item["name"], f"{path}.name")
        roles.append(EntitySpec(path, name, _fields(item, path, ROLE_SCHEMA), rules=rules))

    apps = []
    for i, raw in enumerate(sections["apps"]):
        path = f"apps[{i}]"
        item = _mapping(raw, path, ("name", *APP_SCHEMA, "key"), ("name",))
        key = _secret(item["key"], f"{path}.key") if "key" in item else None
        name = _text(item["name"], f"{path}.name")
        apps.append(EntitySpec(path, name, _fields(item, path, APP_SCHEMA), secret=key))

    user_roles = []
    for i, raw in enumerate(sections["user_app_roles"]):
        path = f"user_app_roles[{i}]"
        names = ("username", "app", "role")
        item = _mapping(raw, path, names, names)
        user_roles.append(
            UserAppRoleSpec(path, *(_text(item[name], f"{path}.{name}") for name in names))
        )

    lookups = [_lookup_parse(raw, f"lookups[{i}]") for i, raw in enumerate(sections["lookups"])]

    limits = []
    for i, raw in enumerate(sections["limits"]):
        path = f"limits[{i}]"
        item = _mapping(raw, path, ("name", *LIMIT_SCHEMA), ("name",))
        name = _text(item["name"], f"{path}.name")
        limits.append(LimitSpec(path, name, _fields(item, path, LIMIT_SCHEMA)))

    _refuse_twice("service", ((f"{s.path}.name", s.name) for s in services))
    _refuse_twice("role", ((f"{r.path}.name", r.name) for r in roles))
    _refuse_twice("app", ((f"{a.path}.name", a.name) for a in apps))
    _refuse_twice(
        "key", ((f"{a.path}.key", key_digest(a.secret)) for a in apps if a.secret), show=False
    )
    _refuse_twice("user app role", ((u.path, f"{u.username} in {u.app}") for u in user_roles))
    _refuse_twice("lookup", ((item.path, lookup_label(item)) for item in lookups))
    _refuse_twice("limit", ((f"{item.path}.name", item.name) for item in limits))
    return Document(
        tuple(services),
        tuple(roles),
        tuple(apps),
        tuple(user_roles),
        tuple(lookups),
        tuple(limits),
    )


def _rule_parse(raw: Any, path: str) -> RuleSpec:
    item = _mapping(raw, path, RULE_SCHEMA)
    return RuleSpec(path, {**RULE_DEFAULTS, **_fields(item, path, RULE_SCHEMA)})


def _lookup_parse(raw: Any, path: str) -> LookupSpec:
    item = _mapping(raw, path, ("key", "value", "private", "scope"), ("key", "scope"))
    key = _text(item["key"], f"{path}.key")
    scope_path = f"{path}.scope"
    scope, owner = item["scope"], None
    if isinstance(scope, dict):
        given = _mapping(scope, scope_path, SCOPES[1:])
        if len(given) != 1:
            raise ConfigError(
                scope_path, "expected system, {app: NAME}, {role: NAME} or {user: NAME}"
            )
        ((scope, owner),) = given.items()
        owner = _text(owner, f"{scope_path}.{scope}")
    elif scope != "system":
        raise ConfigError(scope_path, "expected system, {app: NAME}, {role: NAME} or {user: NAME}")
    values: dict[str, Any] = {}
    if "value" in item:
        raw_value = item["value"]
        values["value"] = (
            _from_env(raw_value, f"{path}.value")
            if isinstance(raw_value, dict)
            else _text(raw_value, f"{path}.value")
        )
    if "private" in item:
        values["private"] = _boolean(item["private"], f"{path}.private")
    return LookupSpec(path, key, scope, owner, values)


def lookup_label(lookup: LookupSpec) -> str:
    """Return how the report names a lookup: `region (app portal)`."""
    where = lookup.scope if lookup.owner is None else f"{lookup.scope} {lookup.owner}"
    return f"{lookup.key} ({where})"


def _refuse_twice(noun: str, items: Iterable[tuple[str, str]], *, show: bool = True) -> None:
    first: dict[str, str] = {}
    for path, name in items:
        if name in first:
            what = f"{noun} {name!r}" if show else f"the same {noun}"
            raise ConfigError(path, f"{what} is also given at {first[name]}")
        first[name] = path
