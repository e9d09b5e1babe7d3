"""HubSpot accounts: where the API is, the encrypted token, the rate limits.

One rule: secrets (the access token and the webhook client secret) are
stored only as Fernet tokens (`config.crypto`), set through `set_token` /
`set_webhook_secret` and decrypted only by `settings()` and
`webhook_secret()`; they never appear in repr, forms, logs or error messages.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models

from config.crypto import decrypt_secret, encrypt_secret
from sync.hubspot import settings as hubspot_settings
from sync.hubspot.settings import AccountSettings, RetryPolicy, Timeouts

if TYPE_CHECKING:
    from sync.hubspot.client import HubSpotClient

API_VERSION_HELP = "v3, or a date version such as 2026-03."
# Calls made while someone waits on a page (test connection, reading properties
# to validate a form): few retries, short waits, so a failure shows in seconds.
INTERACTIVE_RETRY = RetryPolicy(max_attempts=2, backoff_cap=1.0, max_rate_limited=3, max_wait=5.0)
INTERACTIVE_TIMEOUTS = Timeouts(connect=5.0, read=15.0, write=15.0, pool=5.0)


class HubSpotAccount(models.Model):
    """One HubSpot account (one private-app token) that sync jobs talk to.

    Holds where the API is (base URL, API version), the encrypted token,
    the account's rate limits and the encrypted webhook client secret. Code
    that calls HubSpot takes `settings()`, an immutable `AccountSettings`.
    """

    name = models.SlugField(max_length=64, unique=True, help_text="Short name used in URLs.")
    label = models.CharField(max_length=128, help_text="Display name.")
    # A Fernet token (config.crypto), never the plaintext; set it with set_token().
    token_encrypted = models.TextField(editable=False)
    base_url = models.URLField(
        default=hubspot_settings.DEFAULT_BASE_URL,
        help_text="HubSpot's API root; another URL for a compatible server.",
    )
    api_version = models.CharField(
        max_length=16, default=hubspot_settings.DEFAULT_API_VERSION, help_text=API_VERSION_HELP
    )
    burst_limit = models.PositiveIntegerField(
        default=hubspot_settings.DEFAULT_BURST_LIMIT,
        validators=[MinValueValidator(1)],
        help_text="Requests per burst window (100 on Free/Starter, 190 on Professional/Enterprise).",
    )
    burst_window_seconds = models.PositiveIntegerField(
        default=int(hubspot_settings.DEFAULT_BURST_WINDOW), validators=[MinValueValidator(1)]
    )
    daily_limit = models.PositiveIntegerField(
        default=hubspot_settings.DEFAULT_DAILY_LIMIT,
        validators=[MinValueValidator(1)],
        help_text="Requests per day (reset at the account's midnight).",
    )
    search_limit = models.PositiveIntegerField(
        default=hubspot_settings.DEFAULT_SEARCH_LIMIT,
        validators=[MinValueValidator(1)],
        help_text="Search requests per second.",
    )
    # A Fernet token, or "" when no webhook secret is set; set it with set_webhook_secret().
    webhook_secret_encrypted = models.TextField(editable=False, blank=True, default="")
    active = models.BooleanField(default=True, help_text="Jobs of an inactive account do not run.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("name",)
        verbose_name = "HubSpot account"

    def __str__(self) -> str:
        return self.name

    def clean_fields(self, exclude: Collection[str] | None = None) -> None:
        """Validate the fields, and require a token unless `exclude` names its column.

        Django skips validation of non-editable fields, and the token column is
        non-editable so that no generated form or serializer ever carries it.
        """
        errors: dict[str, Any] = {}
        try:
            super().clean_fields(exclude=exclude)
        except ValidationError as error:
            errors = error.update_error_dict(errors)
        if "token_encrypted" not in (exclude or ()) and not self.token_encrypted:
            errors.setdefault("token_encrypted", []).append(
                ValidationError("Set the access token.", code="required")
            )
        if (
            "api_version" not in (exclude or ())
            and self.api_version
            and not hubspot_settings.API_VERSION_PATTERN.fullmatch(self.api_version)
        ):
            errors.setdefault("api_version", []).append(
                ValidationError(f"Use {API_VERSION_HELP}", code="invalid")
            )
        if errors:
            raise ValidationError(errors)

    def set_token(self, raw: str) -> None:
        """Store `raw` encrypted with the current key (not saved until `save()`)."""
        self.token_encrypted = encrypt_secret(raw)

    def get_token(self) -> str:
        """Return the decrypted token ("" if none); raise DecryptionError if no key opens it."""
        return decrypt_secret(self.token_encrypted) if self.token_encrypted else ""

    def set_webhook_secret(self, raw: str) -> None:
        """Store the webhook client secret encrypted ("" clears it)."""
        self.webhook_secret_encrypted = encrypt_secret(raw) if raw else ""

    def webhook_secret(self) -> str:
        """Return the decrypted webhook client secret ("" if none is set)."""
        if not self.webhook_secret_encrypted:
            return ""
        return decrypt_secret(self.webhook_secret_encrypted)

    @property
    def has_webhook_secret(self) -> bool:
        return bool(self.webhook_secret_encrypted)

    def settings(self) -> AccountSettings:
        """Return the client's settings for this account, with the decrypted token.

        Raises config.crypto.DecryptionError when the token cannot be
        decrypted, ValueError when a stored setting is out of range.
        """
        return AccountSettings(
            token=self.get_token(),
            base_url=self.base_url,
            api_version=self.api_version,
            burst_limit=self.burst_limit,
            burst_window=float(self.burst_window_seconds),
            daily_limit=self.daily_limit,
            search_limit=self.search_limit,
        )

    def client(self, *, interactive: bool = False) -> HubSpotClient:
        """Return a HubSpot client for this account, rate-limited through the platform's Redis.

        `interactive` bounds retries and waits for calls someone waits on.
        Close the client when done. Raises DecryptionError / ValueError as
        `settings()` does.
        """
        from sync.hubspot.client import HubSpotClient

        account = self.settings()
        if interactive:
            account = dataclasses.replace(
                account, retry=INTERACTIVE_RETRY, timeouts=INTERACTIVE_TIMEOUTS
            )
        redis_url = django_settings.REDIS_URL or "redis://127.0.0.1:6379/0"
        return HubSpotClient(account, redis_client=redis_url)
