"""Admin for OAuth 2.0 clients: which Sluicegate app each django-oauth-toolkit application acts for.

One rule: a client's tokens are refused until the client is linked to an app
here, so linking is the one step that lets an OAuth application reach the
API (with that app's roles).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from oauth2_provider.admin import get_application_admin_class
from oauth2_provider.models import get_application_model

from rbac.models import OAuthClient

Application = get_application_model()
ProviderApplicationAdmin: Any = get_application_admin_class()


class OAuthClientInline(admin.StackedInline[OAuthClient, Any]):
    """The app an OAuth application acts for, on the application's page."""

    model = OAuthClient
    fk_name = "application"
    extra = 1
    max_num = 1
    verbose_name = "Sluicegate app"
    verbose_name_plural = "Sluicegate app (tokens act with this app's roles)"


class LinkedApplicationAdmin(ProviderApplicationAdmin):  # type: ignore[misc]  # the provider ships no types
    """django-oauth-toolkit's application admin, with the app it is linked to."""

    inlines = (*getattr(ProviderApplicationAdmin, "inlines", ()), OAuthClientInline)


@admin.register(OAuthClient)
class OAuthClientAdmin(admin.ModelAdmin[OAuthClient]):
    """Every link of an OAuth application to an app, in one list."""

    list_display = ("application", "app")
    list_select_related = ("application", "app")
    search_fields = ("application__name", "application__client_id", "app__name")


if admin.site.is_registered(Application):
    admin.site.unregister(Application)
admin.site.register(Application, LinkedApplicationAdmin)
