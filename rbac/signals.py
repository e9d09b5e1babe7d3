"""Keep every process's access configuration current: any change to it is published.

One rule: a save or delete of anything `rbac.state` reads (roles, rules,
apps, users' roles, lookups, admin keys, users, services, OAuth clients and
remembered OAuth access tokens) calls
`rbac.state.changed()`; nothing else happens here.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models.signals import post_delete, post_save

from rbac import models
from rbac.state import changed

WATCHED = (
    models.Role,
    models.AccessRule,
    models.App,
    models.UserAppRole,
    models.Lookup,
    models.AdminApiKey,
    models.Limit,
    models.OAuthClient,
)


def on_change(sender: Any, **kwargs: Any) -> None:
    update_fields = kwargs.get("update_fields")
    if update_fields is not None and set(update_fields) <= {"last_login"}:
        return  # a login, not a change of who the user is
    changed()


def on_access_token_change(sender: Any, **kwargs: Any) -> None:
    if kwargs.get("created"):
        return  # a new token: nothing any process remembers is stale
    changed()  # a token changed (expiry, scope) or, deleted, was revoked


def connect() -> None:
    """Connect the handlers (from `RbacConfig.ready`)."""
    from services.models import Service

    for model in (*WATCHED, get_user_model(), Service):
        post_save.connect(on_change, sender=model, dispatch_uid=f"rbac-{model.__name__}-save")
        post_delete.connect(on_change, sender=model, dispatch_uid=f"rbac-{model.__name__}-del")
    from oauth2_provider.models import get_access_token_model

    token_model = get_access_token_model()
    post_save.connect(on_access_token_change, sender=token_model, dispatch_uid="rbac-oauth-save")
    post_delete.connect(on_access_token_change, sender=token_model, dispatch_uid="rbac-oauth-del")
