"""Routes under /api/v2/ (the platform's own names `user`, `system`, `hooks`, `docs` are reserved)."""

from django.urls import path, re_path

from services.api import platform_spec, routines, schema_writes, spec, views

# Identifiers of records may contain anything but a slash; table names may be
# schema-qualified (`extra.notes`).
urlpatterns = [
    # Records and pages first: most calls are these, and patterns are tried in order.
    path("<str:service>/_table/<str:table>/<str:pk>", views.TableView.as_view(), name="api-record"),
    path("<str:service>/_table/<str:table>", views.TableView.as_view(), name="api-table"),
    path("", views.ServicesView.as_view(), name="api-services"),
    # Names starting with `_` are the platform's: before `<str:service>`.
    path("_spec", platform_spec.PlatformSpecView.as_view(), name="api-platform-spec"),
    path("<str:service>", views.ServiceView.as_view(), name="api-service"),
    path("<str:service>/_table", views.TableIndexView.as_view(), name="api-tables"),
    path(
        "<str:service>/_schema",
        schema_writes.SchemaIndexWriteView.as_view(),
        name="api-schemas",
    ),
    path(
        "<str:service>/_schema/<str:table>",
        schema_writes.SchemaTableWriteView.as_view(),
        name="api-schema",
    ),
    path(
        "<str:service>/_schema/<str:table>/_field/<str:field>",
        schema_writes.SchemaFieldView.as_view(),
        name="api-schema-field",
    ),
    path(
        "<str:service>/_schema/<str:table>/<str:field>",
        schema_writes.SchemaFieldView.as_view(),
        name="api-schema-fields",
    ),
    path("<str:service>/_func", routines.RoutineIndexView.as_view(), name="api-functions"),
    path("<str:service>/_func/<path:name>", routines.RoutineView.as_view(), name="api-function"),
    path("<str:service>/_proc", routines.ProcedureIndexView.as_view(), name="api-procedures"),
    path("<str:service>/_proc/<path:name>", routines.ProcedureView.as_view(), name="api-procedure"),
    path("<str:service>/_spec", spec.SpecView.as_view(), name="api-spec"),
    re_path(r"^.*$", views.unknown_path),
]
