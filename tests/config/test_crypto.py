import pytest
from cryptography.fernet import Fernet
from pytest_django.fixtures import Settings

from config.crypto import DecryptionError, decrypt_secret, encrypt_secret, rotate_secret


def test_secret_round_trip_is_not_plaintext(settings: Settings) -> None:
    settings.SLUICEGATE_ENCRYPTION_KEYS = (Fernet.generate_key().decode(),)
    token = encrypt_secret("s3cret-password")
    assert "s3cret" not in token
    assert decrypt_secret(token) == "s3cret-password"


def test_rotation_keeps_old_secrets_readable_then_moves_them(settings: Settings) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.SLUICEGATE_ENCRYPTION_KEYS = (old,)
    token = encrypt_secret("hubspot-token")

    settings.SLUICEGATE_ENCRYPTION_KEYS = (new, old)
    assert decrypt_secret(token) == "hubspot-token"  # old key still decrypts
    rotated = rotate_secret(token)
    fresh = encrypt_secret("another")

    settings.SLUICEGATE_ENCRYPTION_KEYS = (new,)
    assert decrypt_secret(rotated) == "hubspot-token"
    assert decrypt_secret(fresh) == "another"  # the first key encrypts
    with pytest.raises(DecryptionError):
        decrypt_secret(token)


def test_secret_from_an_unknown_key_is_a_clean_error(settings: Settings) -> None:
    settings.SLUICEGATE_ENCRYPTION_KEYS = (Fernet.generate_key().decode(),)
    foreign = Fernet(Fernet.generate_key()).encrypt(b"x").decode()
    with pytest.raises(DecryptionError, match="cannot be decrypted"):
        decrypt_secret(foreign)
