"""The admin change trail: one `AdminChange` row per create, update or delete of configuration.

One rule: a secret never reaches the trail, not even in encrypted or hashed
form. Fields holding one (the service password's ciphertext, key digests and
prefixes, anything named like a password, secret, digest or token, and the
value of a private lookup) are recorded only as "***" (set), "changed" or
None (empty).

Who made the change comes from the request being served (set by
`AdminChangeActorMiddleware`, resolved only when something changes, so
requests that change nothing pay nothing); outside a request it is
"system" (management commands such as `import_config`, Celery tasks), or
whoever `acting_as()` names.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.core.exceptions import ObjectDoesNotExist
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models.signals import post_delete, post_save, pre_save
from django.http import HttpRequest, HttpResponseBase

from rbac.models import AdminChange
from rbac.policies import Principal

# Every model whose changes are recorded, as "app_label.Model": add one line here.
WATCHED_MODELS = (
    "services.Service",
    "rbac.Role",
    "rbac.AccessRule",
    "rbac.App",
    "rbac.AdminApiKey",
    "rbac.UserAppRole",
    "rbac.Lookup",
    "rbac.Limit",
    "rbac.OAuthClient",
)
# Field names that always hold a secret, beyond the name pattern below.
SECRET_FIELDS = frozenset({"key_prefix", "key_digest", "prefix", "digest", "password_encrypted"})
SECRET_WORDS = ("password", "secret", "digest", "token")
SET, CHANGED = "***", "changed"
SYSTEM = "system"
BEFORE_ATTRIBUTE = "_admin_change_before"
MAX_REPR = 200


@dataclass(frozen=True, slots=True)
class Actor:
    """Who a change is recorded against."""

    user_id: int | None
    username: str


_request: ContextVar[HttpRequest | None] = ContextVar("admin_change_request", default=None)
_actor: ContextVar[Actor | None] = ContextVar("admin_change_actor", default=None)


class AdminChangeActorMiddleware:
    """Makes the request being served known to the change trail (its user is read lazily)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        token = _request.set(request)
        try:
            return self.get_response(request)
        finally:
            _request.reset(token)


@contextmanager
def acting_as(username: str, user_id: int | None = None) -> Iterator[None]:
    """Record the changes made inside the block against `username` (and user `user_id`)."""
    token = _actor.set(Actor(user_id, username))
    try:
        yield
    finally:
        _actor.reset(token)


def current_actor() -> Actor:
    """Return who changes are recorded against now: the named actor, the request's user, or system."""
    named = _actor.get()
    if named is not None:
        return named
    request = _request.get()
    user: Any = getattr(request, "user", None) if request is not None else None
    if isinstance(user, Principal):  # an API request: DRF put the caller there
        return Actor(user.user.id, user.user.username) if user.user else Actor(None, SYSTEM)
    if user is not None and user.is_authenticated:
        return Actor(int(user.pk), str(user.get_username()))
    return Actor(None, SYSTEM)


# --- values -----------------------------------------------------------------------------------


def is_secret(instance: models.Model, field: models.Field[Any, Any]) -> bool:
    name = field.name.lower()
    if name in SECRET_FIELDS or any(word in name for word in SECRET_WORDS):
        return True
    # A private lookup's value is given to scripts only and often holds a credential.
    return field.name == "value" and bool(getattr(instance, "private", False))


def recorded_fields(model: type[models.Model]) -> list[models.Field[Any, Any]]:
    """The concrete fields worth recording (not the key, not timestamps every save moves)."""
    return [
        field
        for field in model._meta.concrete_fields
        if not field.primary_key and not getattr(field, "auto_now", False)
    ]


def jsonable(value: Any) -> Any:
    """Return `value` as plain JSON data (dates and decimals as strings)."""
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def masked(value: Any) -> str | None:
    return SET if value not in (None, "") else None


def snapshot(instance: models.Model) -> dict[str, Any]:
    """Return the recorded fields of `instance` by attribute name (`role_id`, not `role`)."""
    return {
        field.attname: getattr(instance, field.attname) for field in recorded_fields(type(instance))
    }


def full_values(instance: models.Model, values: dict[str, Any]) -> dict[str, Any]:
    """Every recorded field of a created or deleted row, secrets masked."""
    secret = {f.attname for f in recorded_fields(type(instance)) if is_secret(instance, f)}
    shown = {name: masked(value) if name in secret else value for name, value in values.items()}
    data: dict[str, Any] = jsonable(shown)
    return data


def changed_values(
    instance: models.Model, before: dict[str, Any], after: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return (before, after) of the fields that changed, secrets masked."""
    old: dict[str, Any] = {}
    new: dict[str, Any] = {}
    for field in recorded_fields(type(instance)):
        name = field.attname
        if name not in before or before[name] == after[name]:
            continue
        if is_secret(instance, field) or (field.name == "value" and before.get("private")):
            old[name] = masked(before[name])
            new[name] = CHANGED if after[name] not in (None, "") else None
        else:
            old[name], new[name] = before[name], after[name]
    return jsonable(old), jsonable(new)


def describe(instance: models.Model) -> str:
    try:
        text = str(instance)
    except ObjectDoesNotExist:  # a related row is already gone (cascading deletes)
        text = f"{type(instance).__name__} {instance.pk}"
    return text[:MAX_REPR]


def record(
    instance: models.Model,
    action: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    *,
    using: str | None,
) -> None:
    """Write one AdminChange row, in the transaction that made the change."""
    actor = current_actor()
    AdminChange.objects.using(using).create(
        user_id=actor.user_id,
        username=actor.username[:150],
        action=action,
        model=instance._meta.label,
        object_id=str(instance.pk)[:64],
        object_repr=describe(instance),
        before=before,
        after=after,
    )


# --- signal handlers --------------------------------------------------------------------------


def capture_before(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    """Read the stored row (one query) before an update overwrites it."""
    if instance._state.adding or instance.pk is None or kwargs.get("raw"):
        setattr(instance, BEFORE_ATTRIBUTE, None)
        return
    names = [field.attname for field in recorded_fields(sender)]
    update_fields = kwargs.get("update_fields")
    if update_fields is not None:
        wanted = set(update_fields)
        names = [f.attname for f in recorded_fields(sender) if {f.name, f.attname} & wanted]
    stored = sender._base_manager.using(kwargs.get("using")).filter(pk=instance.pk)
    setattr(instance, BEFORE_ATTRIBUTE, stored.values(*names).first())


def on_save(
    sender: type[models.Model], instance: models.Model, created: bool, **kwargs: Any
) -> None:
    if kwargs.get("raw"):
        return  # fixtures being loaded
    using = kwargs.get("using")
    before: dict[str, Any] | None = getattr(instance, BEFORE_ATTRIBUTE, None)
    if hasattr(instance, BEFORE_ATTRIBUTE):
        delattr(instance, BEFORE_ATTRIBUTE)
    after = snapshot(instance)
    if created or before is None:
        record(instance, "create", None, full_values(instance, after), using=using)
        return
    old, new = changed_values(instance, before, after)
    if old or new:
        record(instance, "update", old, new, using=using)


def on_delete(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    before = full_values(instance, snapshot(instance))
    record(instance, "delete", before, None, using=kwargs.get("using"))


def watched_models() -> list[type[models.Model]]:
    return [apps.get_model(label) for label in WATCHED_MODELS]


def connect() -> None:
    """Connect the handlers to every watched model (from `RbacConfig.ready`)."""
    for model in watched_models():
        uid = f"admin-change-{model._meta.label}"
        pre_save.connect(capture_before, sender=model, dispatch_uid=f"{uid}-pre")
        post_save.connect(on_save, sender=model, dispatch_uid=f"{uid}-save")
        post_delete.connect(on_delete, sender=model, dispatch_uid=f"{uid}-delete")
