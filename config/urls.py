"""Root URLs: the admin console, the health probes and the API."""

from django.contrib import admin
from django.urls import include, path

from config import health
from rbac import views as rbac_views
from services.api import docs as api_docs
from services.api import views as api_views
from sync import webhooks

admin.site.site_header = "Sluicegate"
admin.site.site_title = "Sluicegate"
admin.site.index_title = "Administration"

urlpatterns = [
    # The API first: patterns are tried in order, on every call.
    path("api/v2/user/session", rbac_views.SessionView.as_view(), name="api-session"),
    # `hooks` is a reserved service name: this route never hides a service.
    path("api/v2/hooks/hubspot/<str:account>", webhooks.hubspot_webhook, name="hubspot-webhook"),
    path("api/v2/", include("services.api.urls")),
    path("admin/", admin.site.urls),
    path("oauth/", include("rbac.oauth", namespace="oauth2_provider")),
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
    path("api/v2", api_views.ServicesView.as_view()),
    path("api/docs/", api_docs.platform_docs, name="api-docs-platform"),
    path("api/docs/<str:service>", api_docs.service_docs, name="api-docs"),
]

handler500 = "config.errors.server_error"
