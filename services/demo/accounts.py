"""The demo's accounts: an admin whose password is generated once, an admin key, a demo app."""

from __future__ import annotations

import os
from pathlib import Path

from django.contrib.auth import get_user_model

from config.environment import read_or_create_secret
from rbac.keys import admin_key_works, create_admin_key, digest_of_presented, set_app_key
from rbac.models import AccessRule, App, Role
from services.models import Service

ADMIN_USERNAME = "admin"


def ensure_demo_api_key(data_dir: Path) -> str:
    """Return the demo's admin API key, kept in `<data_dir>/demo_api_key` (mode 0600).

    A key that no longer works (revoked, or a fresh database) is replaced.
    The demo needs a key `make run` can print; production creates its keys
    with `manage.py create_admin_key`, which shows them once and keeps none.
    """
    path = data_dir / "demo_api_key"
    if path.exists():
        key = path.read_text().strip()
        if admin_key_works(key):
            return key
        path.unlink()
    admin = get_user_model().objects.get(username=ADMIN_USERNAME)
    key = create_admin_key(user=admin, name="demo").key
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key


def ensure_demo_admin(data_dir: Path) -> bool:
    """Create the superuser `admin` if missing, with the stored password; return True if created.

    The password lives in `<data_dir>/admin_password` (mode 0600), generated on
    first use; an existing user is left untouched, so a changed password stays.
    """
    password = read_or_create_secret(data_dir / "admin_password")
    user_model = get_user_model()
    if user_model.objects.filter(username=ADMIN_USERNAME).exists():
        return False
    user_model.objects.create_superuser(ADMIN_USERNAME, email="", password=password)
    return True


DEMO_ROLE = "demo-reader"
DEMO_APP = "demo"
# What the demo app's role shows: every table, but contacts without their
# personal fields and without churned contacts.
DEMO_CONTACT_COLUMNS = [
    "id",
    "external_id",
    "email",
    "first_name",
    "last_name",
    "job_title",
    "company_id",
    "status",
    "tags",
    "lifetime_value",
    "created_at",
    "updated_at",
]
DEMO_CONTACT_FILTER = "status != 'churned'"


def ensure_demo_app(data_dir: Path, service: Service) -> str:
    """Create the demo role and app once; return the app's key, kept in `<data_dir>/demo_app_key`.

    The role reads every table of `service`, contacts with a column policy and
    a row filter. An existing role is left as an admin may have edited it.
    """
    role, created = Role.objects.get_or_create(
        name=DEMO_ROLE,
        defaults={"description": "Reads the demo CRM; contacts without personal fields."},
    )
    if created:
        AccessRule.objects.create(role=role, service=service, component="_table/*", verbs=["GET"])
        AccessRule.objects.create(role=role, service=service, component="_schema/*", verbs=["GET"])
        AccessRule.objects.create(
            role=role,
            service=service,
            component="_table/contacts",
            verbs=["GET"],
            readable_columns=DEMO_CONTACT_COLUMNS,
            row_filter=DEMO_CONTACT_FILTER,
        )
    app, _ = App.objects.get_or_create(
        name=DEMO_APP,
        defaults={"description": "The demo's API client.", "default_role": role},
    )
    path = data_dir / "demo_app_key"
    if path.exists():
        key = path.read_text().strip()
        if app.key_digest == digest_of_presented(key):
            return key
        path.unlink()
    key = set_app_key(app)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key
