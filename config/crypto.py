"""Encryption of secrets at rest (database passwords, HubSpot tokens).

One rule: the first key of SLUICEGATE_ENCRYPTION_KEYS encrypts, every key
decrypts, so keys rotate by putting a new key first and re-encrypting
(`rotate_secret`) before the old one is dropped.
"""

from __future__ import annotations

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class DecryptionError(Exception):
    """A stored secret could not be decrypted with any configured key."""


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


def current_fernet() -> MultiFernet:
    """Return the MultiFernet for the configured keys (first one encrypts)."""
    return _fernet(tuple(settings.SLUICEGATE_ENCRYPTION_KEYS))


def encrypt_secret(plaintext: str) -> str:
    """Return the Fernet token for `plaintext`, encrypted with the first key."""
    return current_fernet().encrypt(plaintext.encode()).decode()


def decrypt_secret(token: str) -> str:
    """Return the plaintext of `token`; raise DecryptionError if no key opens it."""
    try:
        return current_fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError(
            "stored secret cannot be decrypted with the configured keys"
        ) from None


def rotate_secret(token: str) -> str:
    """Return `token` re-encrypted with the first key (for key rotation)."""
    try:
        return current_fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError(
            "stored secret cannot be decrypted with the configured keys"
        ) from None
