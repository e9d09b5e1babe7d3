"""The demo's admin account, whose password is generated once and kept in the data dir."""

from __future__ import annotations

import os
from pathlib import Path

from django.contrib.auth import get_user_model

from config.environment import read_or_create_secret
from rbac.keys import admin_key_works, create_admin_key

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
