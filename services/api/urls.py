"""Routes under /api/v2/ (the platform's own names `user`, `system`, `hooks`, `docs` are reserved)."""

from django.urls import path, re_path

from services.api import views

# Identifiers of records may contain anything but a slash; table names may be
# schema-qualified (`extra.notes`).
urlpatterns = [
    path("", views.ServicesView.as_view(), name="api-services"),
    path("<str:service>", views.ServiceView.as_view(), name="api-service"),
    path("<str:service>/_table", views.TableIndexView.as_view(), name="api-tables"),
    path("<str:service>/_table/<str:table>", views.TableView.as_view(), name="api-table"),
    path("<str:service>/_table/<str:table>/<str:pk>", views.TableView.as_view(), name="api-record"),
    path("<str:service>/_schema", views.SchemaIndexView.as_view(), name="api-schemas"),
    path("<str:service>/_schema/<str:table>", views.SchemaTableView.as_view(), name="api-schema"),
    re_path(r"^.*$", views.unknown_path),
]
