"""API keys: generation, hashing and look-up.

One rule: a key is never stored; only its SHA-256 digest is, and a key is
only ever compared through that digest, by a hash-table look-up (the keys
carry 256 random bits, so a fast hash is the right one, and no string
comparison loop ever runs over a secret). Look-ups go through `rbac.state`.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.utils import timezone

from rbac.models import AdminApiKey, App

KEY_PREFIX = "sg_"
MAX_KEY_LENGTH = 100


@dataclass(frozen=True, slots=True)
class NewKey:
    """A freshly created key: `key` is the only time the secret exists in clear."""

    key: str
    record: AdminApiKey


def key_digest(key: str) -> str:
    """Return the stored form of `key`."""
    return hashlib.sha256(key.encode()).hexdigest()


def create_admin_key(*, user: User, name: str) -> NewKey:
    """Create an admin API key for `user`; return it with the clear key."""
    key = new_key()
    record = AdminApiKey.objects.create(
        name=name, user=user, prefix=key[: len(KEY_PREFIX) + 5], digest=key_digest(key)
    )
    return NewKey(key=key, record=record)


def revoke_admin_key(record: AdminApiKey) -> None:
    """Revoke `record` now."""
    record.revoked_at = timezone.now()
    record.save(update_fields=["revoked_at"])


def new_key() -> str:
    """Return a fresh API key: `sg_` and 43 URL-safe characters (256 random bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def set_app_key(app: App, key: str | None = None) -> str:
    """Give `app` a new key (a fresh one unless `key` is given); return it in clear.

    The previous key stops working at once (in every process within the
    access configuration's check interval).
    """
    key = key or new_key()
    if not key.startswith(KEY_PREFIX) or not 40 <= len(key) <= MAX_KEY_LENGTH:
        raise ValueError(f"An API key starts with {KEY_PREFIX!r} and has 40 to 100 characters.")
    app.key_prefix = key[: len(KEY_PREFIX) + 5]
    app.key_digest = key_digest(key)
    app.key_created_at = timezone.now()
    app.save(update_fields=["key_prefix", "key_digest", "key_created_at"])
    return key


def revoke_app_key(app: App) -> None:
    """Remove `app`'s key: calls with it are refused."""
    app.key_prefix, app.key_digest, app.key_created_at = "", None, None
    app.save(update_fields=["key_prefix", "key_digest", "key_created_at"])


def digest_of_presented(key: str) -> str | None:
    """Return the digest to look a presented key up by, or None when it cannot be a key."""
    if not key.startswith(KEY_PREFIX) or len(key) > MAX_KEY_LENGTH:
        return None
    return key_digest(key)


def admin_key_works(key: str) -> bool:
    """Return whether `key` is an unrevoked admin key of an active superuser."""
    digest = digest_of_presented(key)
    return (
        digest is not None
        and AdminApiKey.objects.filter(
            digest=digest,
            revoked_at__isnull=True,
            user__is_active=True,
            user__is_superuser=True,
        ).exists()
    )
