"""The demo's admin account, whose password is generated once and kept in the data dir."""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model

from config.environment import read_or_create_secret

ADMIN_USERNAME = "admin"


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
