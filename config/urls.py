"""Root URLs: the admin console, the health probes and the API."""

from django.contrib import admin
from django.urls import include, path

from config import health
from rbac import views as rbac_views
from services.api import views as api_views

admin.site.site_header = "Sluicegate"
admin.site.site_title = "Sluicegate"
admin.site.index_title = "Administration"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("oauth/", include("rbac.oauth", namespace="oauth2_provider")),
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
    path("api/v2/user/session", rbac_views.SessionView.as_view(), name="api-session"),
    path("api/v2/", include("services.api.urls")),
    path("api/v2", api_views.ServicesView.as_view()),
]

handler500 = "config.errors.server_error"
