"""The HubSpot account admin: write-only secrets and the "Test connection" button and action.

One rule: the access token and the webhook client secret are write-only
here: the form never renders them (nor their encrypted form), a blank field
keeps the stored one, and a connection test shows only a clean one-line
outcome, never the token.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from config.admin_buttons import ObjectButton, ObjectButtonsAdmin
from config.crypto import DecryptionError
from sync.forms import HubSpotAccountForm
from sync.hubspot.errors import (
    AuthenticationError,
    DailyLimitReached,
    HubSpotError,
    HubSpotUnavailable,
    MissingScopesError,
    RateLimiterUnavailable,
)
from sync.models import HubSpotAccount
from sync.schedule import reschedule_account


@dataclass(frozen=True, slots=True)
class ConnectionResult:
    """The outcome of a connection test, as one line for an admin."""

    ok: bool
    message: str


def _failure(error: HubSpotError) -> str:
    if isinstance(error, AuthenticationError):
        detail = error.error.message if error.error else ""
        return f"HubSpot refused the token (401){': ' + detail if detail else ''}."
    if isinstance(error, MissingScopesError):
        return "The token works but may not read contacts (403): add the crm.objects.contacts.read scope."
    if isinstance(error, DailyLimitReached):
        return "The account's daily request limit is used up; try again after midnight."
    if isinstance(error, RateLimiterUnavailable):
        return "The rate limiter's Redis cannot be reached; no request was sent."
    if isinstance(error, HubSpotUnavailable):
        return f"HubSpot could not be reached: {error}"
    return f"HubSpot refused the request: {error}"


def check_account(account: HubSpotAccount) -> ConnectionResult:
    """Make HubSpot's cheapest authenticated call with the account's saved settings."""
    try:
        client = account.client(interactive=True)
    except DecryptionError:
        return ConnectionResult(
            False, "The stored token cannot be decrypted with the configured keys; set it again."
        )
    except ValueError as error:
        return ConnectionResult(False, f"The account is misconfigured: {error}")
    try:
        with client:
            client.test_connection()
    except HubSpotError as error:
        return ConnectionResult(False, _failure(error))
    return ConnectionResult(
        True, f"connected to HubSpot at {account.base_url} (API {account.api_version})."
    )


@admin.register(HubSpotAccount)
class HubSpotAccountAdmin(ObjectButtonsAdmin[HubSpotAccount]):
    """HubSpot accounts: where, which token, how fast; and a connection test."""

    form = HubSpotAccountForm
    object_buttons = (
        ObjectButton(
            "test_connection",
            "Test connection",
            "Call HubSpot with the saved token and settings and show the outcome",
        ),
    )
    list_display = ("name", "label", "base_url", "api_version", "burst_limit", "active", "webhooks")
    list_filter = ("active",)
    search_fields = ("name", "label", "base_url")
    readonly_fields = ("created_at", "updated_at")
    actions = ("test_connection_action",)
    fieldsets = (
        (None, {"fields": ("name", "label", "active")}),
        ("Connection", {"fields": ("base_url", "api_version", "token")}),
        (
            "Rate limits",
            {"fields": ("burst_limit", "burst_window_seconds", "daily_limit", "search_limit")},
        ),
        ("Webhooks", {"fields": ("webhook_client_secret", "clear_webhook_client_secret")}),
        ("History", {"fields": ("created_at", "updated_at"), "classes": ("collapse",)}),
    )

    @admin.display(description="webhook secret", boolean=True)
    def webhooks(self, obj: HubSpotAccount) -> bool:
        """Whether a webhook client secret is stored (never the secret itself)."""
        return obj.has_webhook_secret

    def save_model(
        self, request: HttpRequest, obj: HubSpotAccount, form: HubSpotAccountForm, change: bool
    ) -> None:
        """Save, then bring the account's jobs' schedules in step (active or not)."""
        super().save_model(request, obj, form, change)
        if change and "active" in form.changed_data:
            reschedule_account(obj.pk)

    def press(self, request: HttpRequest, obj: HubSpotAccount, name: str) -> None:
        """Test the account's connection and report it."""
        self.report(request, obj, check_account(obj))

    @admin.action(description="Test connection", permissions=["change"])
    def test_connection_action(
        self, request: HttpRequest, queryset: QuerySet[HubSpotAccount]
    ) -> None:
        """Test each selected account's connection."""
        for account in queryset:
            self.report(request, account, check_account(account))

    def report(
        self, request: HttpRequest, account: HubSpotAccount, result: ConnectionResult
    ) -> None:
        level = messages.SUCCESS if result.ok else messages.ERROR
        self.message_user(request, f"Account '{account.name}': {result.message}", level)
