"""API keys: generation, hashing and look-up.

One rule: a key is never stored; only its SHA-256 digest is, and a key is
only ever compared through that digest (the keys carry 256 random bits, so a
fast hash is the right one).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, User
from django.utils import timezone

from config.ttlcache import TTLCache
from rbac.models import AdminApiKey

KEY_PREFIX = "sg_"
# Look-ups are cached per process this long: a revoked key stops working within it.
CACHE_SECONDS = 5.0


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
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    record = AdminApiKey.objects.create(
        name=name, user=user, prefix=key[: len(KEY_PREFIX) + 5], digest=key_digest(key)
    )
    return NewKey(key=key, record=record)


def revoke_admin_key(record: AdminApiKey) -> None:
    """Revoke `record` now."""
    record.revoked_at = timezone.now()
    record.save(update_fields=["revoked_at"])
    clear_key_cache()


_users: TTLCache[str, AbstractBaseUser | None] = TTLCache(CACHE_SECONDS)


def clear_key_cache() -> None:
    _users.clear()


def user_for_key(key: str) -> AbstractBaseUser | None:
    """Return the active superuser an admin API key belongs to, or None."""
    if not key.startswith(KEY_PREFIX) or len(key) > 100:
        return None
    digest = key_digest(key)
    return _users.get(
        digest,
        lambda: (
            get_user_model()
            .objects.filter(
                admin_api_keys__digest=digest,
                admin_api_keys__revoked_at__isnull=True,
                is_active=True,
                is_superuser=True,
            )
            .first()
        ),
    )
