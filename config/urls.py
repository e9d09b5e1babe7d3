"""Root URLs: the admin console and the health probes."""

from django.contrib import admin
from django.urls import path

from config import health

admin.site.site_header = "Sluicegate"
admin.site.site_title = "Sluicegate"
admin.site.index_title = "Administration"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
]
