"""The audit trail in the admin: read-only, filterable, exportable as CSV.

One rule: records are never added, changed or deleted here (retention deletes
them); the CSV export streams the list exactly as filtered and searched, in
constant memory.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.urls import URLPattern, path
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from rbac.audit import FIELDS, as_rows
from rbac.models import AuditRecord

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PRESETS = (
    ("Last hour", timedelta(hours=1)),
    ("Last 24 hours", timedelta(days=1)),
    ("Last 7 days", timedelta(days=7)),
    ("Last 30 days", timedelta(days=30)),
)


def parse_bound(text: str, *, end: bool) -> datetime:
    """A `time_from`/`time_to` value: a date (a `to` date includes that day) or a date and time."""
    moment = parse_datetime(text)
    if moment is None:
        day = parse_date(text)
        if day is None:
            raise IncorrectLookupParameters(f"'{text}' is not a date or a date and time.")
        moment = datetime(day.year, day.month, day.day)  # noqa: DTZ001  (made aware below)
        if end:
            moment += timedelta(days=1)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


class StatusClassFilter(admin.SimpleListFilter):
    """2xx, 3xx, 4xx or 5xx answers."""

    title = "status class"
    parameter_name = "status_class"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(f"{n}xx", f"{n}xx") for n in (2, 3, 4, 5)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value is None:
            return queryset
        if value not in {"2xx", "3xx", "4xx", "5xx"}:
            raise IncorrectLookupParameters(f"Unknown status class '{value}'.")
        low = int(value[0]) * 100
        return queryset.filter(status__gte=low, status__lt=low + 100)


class TimeRangeFilter(admin.ListFilter):
    """Records from `time_from` (inclusive) to `time_to` (exclusive; a date includes its day)."""

    title = "time"
    template = "admin/rbac/auditrecord/time_range_filter.html"
    parameters = ("time_from", "time_to")

    def __init__(
        self,
        request: HttpRequest,
        params: dict[str, Any],
        model: type[Model],
        model_admin: admin.ModelAdmin[Any],
    ) -> None:
        super().__init__(request, params, model, model_admin)
        self.values: dict[str, str] = {}
        for name in self.parameters:
            if name in params:
                raw = params.pop(name)
                value = raw[-1] if isinstance(raw, list) else raw
                if value:
                    self.values[name] = str(value)
        # The form keeps every other parameter of the list (search, other filters).
        self.kept_parameters = [
            (name, value)
            for name, values in request.GET.lists()
            if name not in self.parameters and name not in ("p", "e")
            for value in values
        ]

    @property
    def time_from_text(self) -> str:
        return self.values.get("time_from", "")

    @property
    def time_to_text(self) -> str:
        return self.values.get("time_to", "")

    def has_output(self) -> bool:
        return True

    def expected_parameters(self) -> list[str | None]:
        return list(self.parameters)

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if "time_from" in self.values:
            queryset = queryset.filter(time__gte=parse_bound(self.values["time_from"], end=False))
        if "time_to" in self.values:
            queryset = queryset.filter(time__lt=parse_bound(self.values["time_to"], end=True))
        return queryset

    def choices(self, changelist: Any) -> Iterator[Any]:
        yield {
            "selected": not self.values,
            "query_string": changelist.get_query_string(remove=self.parameters),
            "display": "Any time",
        }
        now = timezone.localtime().replace(second=0, microsecond=0)
        for display, span in PRESETS:
            since = (now - span).strftime("%Y-%m-%dT%H:%M")
            yield {
                "selected": False,
                "query_string": changelist.get_query_string(
                    {"time_from": since}, remove=["time_to"]
                ),
                "display": display,
            }


class Echo:
    """A file-like object whose `write` returns what it was given (for streaming csv)."""

    def write(self, value: str) -> str:
        return value


def safe_cell(value: Any) -> Any:
    """A cell a spreadsheet will not run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return "" if value is None else value


def csv_lines(queryset: QuerySet[AuditRecord]) -> Iterator[str]:
    writer = csv.writer(Echo())
    yield writer.writerow(FIELDS)
    for row in as_rows(queryset.iterator(chunk_size=2000)):
        yield writer.writerow([safe_cell(value) for value in row])


@admin.register(AuditRecord)
class AuditRecordAdmin(admin.ModelAdmin[AuditRecord]):
    """Who called the API, what it touched and how it ended; read-only."""

    change_list_template = "admin/rbac/auditrecord/change_list.html"
    date_hierarchy = "time"
    list_display = (
        "time",
        "status",
        "method",
        "verb",
        "service",
        "table",
        "username",
        "app",
        "role",
        "rows",
        "duration_ms",
        "client_ip",
        "request_id",
    )
    list_filter = (
        TimeRangeFilter,
        StatusClassFilter,
        "status",
        "service",
        "table",
        "app",
        "role",
        "requestor",
        "verb",
    )
    search_fields = ("username", "app", "role", "service", "table", "path", "request_id")
    readonly_fields = FIELDS
    show_full_result_count = False
    list_per_page = 100

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        name = f"{self.opts.app_label}_{self.opts.model_name}_export"
        export = path("export/", self.admin_site.admin_view(self.export_view), name=name)
        return [export, *super().get_urls()]

    def export_view(self, request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
        """The current filtered and searched list as CSV, streamed."""
        if not self.has_view_permission(request):
            return HttpResponse(status=403)
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            return HttpResponseRedirect("../?e=1")
        queryset = changelist.get_queryset(request)
        response = StreamingHttpResponse(csv_lines(queryset), content_type="text/csv")
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
        return response
