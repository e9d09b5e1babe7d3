"""Admin forms of `rbac`: access rules checked against the service's schema, lookups, "explain".

One rule: a rule that the API could not apply as written is refused on save,
with the error on the field at fault: a malformed component or row filter,
a table or column the service does not have, or a private lookup where only
scripts may use one. When the service's database cannot be reached, the
schema checks are skipped (with a warning) rather than blocking the save.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import psycopg
from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from config.crypto import DecryptionError
from rbac.cors import InvalidOrigin, parse_origins
from rbac.models import REQUESTORS, VERBS, AccessRule, App, Lookup, Role
from rbac.widgets import ColumnPicker, split_names
from services.models import Service
from services.schema_cache import get_snapshot
from services.sql import ast
from services.sql.errors import QueryError
from services.sql.parse import ParseError, parse_filter
from services.sql.schema import SchemaSnapshot, Table

logger = logging.getLogger(__name__)

COMPONENT_HELP = (
    "<code>*</code> (everything), <code>_table/*</code>, <code>_table/{table}</code>, "
    "<code>_table/{table}/*</code>, <code>_schema/*</code>, <code>_proc/*</code>, "
    "<code>_func/{function}</code>. The most specific matching rule wins."
)
COLUMNS_HELP = "Leave empty for every column."
# `*`, or a kind of component followed by `*`, a name, or a name and `/*`.
COMPONENT_PATTERN = re.compile(r"\*|_(?:table|schema|proc|func)/(?:\*|[^/*\s]+(?:/\*)?)")
TABLE_COMPONENT = re.compile(r"_table/(?P<table>[^/*\s]+)(?:/\*)?")
PRESET_LOOKUP = re.compile(r"\{(?P<name>[^{}\s]+)\}")
MAX_COLUMN_NAME = 63


def table_of_component(component: str | None) -> str | None:
    """Return the table a component names (`_table/t` or `_table/t/*`), else None."""
    match = TABLE_COMPONENT.fullmatch((component or "").strip())
    return match["table"] if match else None


def ref_name(ref: ast.FieldRef) -> str:
    """The column a field reference names, through its relation if any (`rel.column`)."""
    return f"{ref.relation}.{ref.name}" if ref.relation else ref.name


def unknown_fields(expr: ast.Expr, table: Table, snapshot: SchemaSnapshot) -> list[str]:
    """Return the field references of `expr` that name no column of `table` (or of a relation)."""
    unknown: list[str] = []
    for ref in ast.field_refs(expr):
        if ref.relation is None:
            found = table.column(ref.name) is not None
        else:
            relation = table.relationship(ref.relation)
            target = snapshot.table(relation.ref_table) if relation is not None else None
            found = target is not None and target.column(ref.name) is not None
        if not found and ref_name(ref) not in unknown:
            unknown.append(ref_name(ref))
    return unknown


def private_lookup_keys(names: Iterable[str]) -> list[str]:
    """Return which of `names` are private lookups anywhere (system, app, role or user)."""
    wanted = sorted(set(names))
    if not wanted:
        return []
    rows = Lookup.objects.filter(key__in=wanted, private=True).values_list("key", flat=True)
    return sorted(set(rows))


class ServiceSchemas:
    """Schema snapshots of services, each read at most once (use one per admin request).

    A service whose schema cannot be read maps to None and is remembered in
    `unreachable`, so callers can warn instead of failing.
    """

    def __init__(self) -> None:
        self._snapshots: dict[int, SchemaSnapshot | None] = {}
        self._names: dict[int, str] = {}
        self.unreachable: set[str] = set()

    def snapshot(self, service: Service) -> SchemaSnapshot | None:
        """Return `service`'s schema snapshot, or None when its database cannot be read."""
        if service.pk not in self._snapshots:
            snapshot: SchemaSnapshot | None
            try:
                snapshot = get_snapshot(service.config())
            except (psycopg.Error, DecryptionError):
                logger.warning("could not read the schema of service %s", service.name)
                snapshot = None
                self.unreachable.add(service.name)
            self._snapshots[service.pk] = snapshot
            self._names[service.pk] = service.name
        return self._snapshots[service.pk]

    def loaded(self) -> list[tuple[str, SchemaSnapshot]]:
        """Return (service name, snapshot) for every readable service looked at, by name."""
        pairs = [
            (self._names[pk], snapshot)
            for pk, snapshot in self._snapshots.items()
            if snapshot is not None
        ]
        return sorted(pairs, key=lambda pair: pair[0])


class ColumnListField(forms.Field):
    """A list of column names (None when empty: every column), picked or typed."""

    widget = ColumnPicker

    def to_python(self, value: Any) -> list[str] | None:
        names = split_names(value)
        for name in names:
            if len(name) > MAX_COLUMN_NAME:
                raise ValidationError(
                    "'%(name)s' is longer than a column name can be.",
                    code="max_length",
                    params={"name": name},
                )
        return names or None

    def prepare_value(self, value: Any) -> list[str]:
        return split_names(value)

    def has_changed(self, initial: Any, data: Any) -> bool:
        return split_names(initial) != split_names(data)


class AccessRuleForm(forms.ModelForm[AccessRule]):
    """One access rule, validated against its service's schema when it names one table."""

    component = forms.CharField(
        max_length=255,
        initial="*",
        help_text=COMPONENT_HELP,
        widget=forms.TextInput(attrs={"list": "sg-components", "size": 40}),
    )
    verbs = forms.MultipleChoiceField(
        choices=[(verb, verb) for verb in VERBS],
        initial=list(VERBS),
        widget=forms.CheckboxSelectMultiple(attrs={"class": "sg-inline-choices"}),
        error_messages={"required": "Choose at least one verb."},
    )
    requestors = forms.MultipleChoiceField(
        choices=[(requestor, requestor) for requestor in REQUESTORS],
        initial=["API"],
        widget=forms.CheckboxSelectMultiple(attrs={"class": "sg-inline-choices"}),
        help_text="API: calls over HTTP. SCRIPT: calls made by event scripts.",
        error_messages={"required": "Choose at least one requestor."},
    )
    readable_columns = ColumnListField(required=False, help_text=COLUMNS_HELP)
    writable_columns = ColumnListField(required=False, help_text=COLUMNS_HELP)

    class Meta:
        model = AccessRule
        fields = (
            "service",
            "component",
            "verbs",
            "requestors",
            "readable_columns",
            "writable_columns",
            "row_filter",
            "presets",
            "max_page_size",
        )
        widgets = {  # noqa: RUF012  # Django reads Meta as a plain class
            "row_filter": forms.Textarea(attrs={"rows": 2, "cols": 60}),
            "presets": forms.Textarea(attrs={"rows": 2, "cols": 60}),
        }

    def __init__(self, *args: Any, schemas: ServiceSchemas | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.schemas = schemas if schemas is not None else ServiceSchemas()
        self.row_filter_expr: ast.Expr | None = None
        rule = self.instance
        service = rule.service if rule.service_id else None
        self.show_columns_of(service, rule.component)

    def show_columns_of(self, service: Service | None, component: str | None) -> None:
        """Offer the columns of the table the rule names as checkboxes, when they can be read."""
        table = self.table_of(service, component)
        columns = tuple(column.name for column in table.columns) if table is not None else ()
        for name in ("readable_columns", "writable_columns"):
            widget = self.fields[name].widget
            assert isinstance(widget, ColumnPicker)
            widget.columns = columns

    def table_of(self, service: Service | None, component: str | None) -> Table | None:
        table_name = table_of_component(component)
        if service is None or table_name is None:
            return None
        snapshot = self.schemas.snapshot(service)
        return snapshot.table(table_name) if snapshot is not None else None

    # --- one field at a time ---

    def clean_component(self) -> str:
        component: str = self.cleaned_data["component"].strip()
        if not COMPONENT_PATTERN.fullmatch(component):
            raise ValidationError(
                "Not a component: use *, _table/*, _table/{table}, _table/{table}/*, "
                "_schema/*, _proc/*, _func/{function} or the like.",
                code="invalid",
            )
        return component

    def clean_verbs(self) -> list[str]:
        chosen = set(self.cleaned_data["verbs"])
        return [verb for verb in VERBS if verb in chosen]

    def clean_requestors(self) -> list[str]:
        chosen = set(self.cleaned_data["requestors"])
        return [requestor for requestor in REQUESTORS if requestor in chosen]

    def clean_row_filter(self) -> str:
        text: str = self.cleaned_data.get("row_filter") or ""
        if not text.strip():
            return ""
        try:
            self.row_filter_expr = parse_filter(text)
        except (ParseError, QueryError) as error:
            raise ValidationError(
                "The row filter cannot be parsed: %(message)s",
                code="invalid",
                params={"message": getattr(error, "message", str(error))},
            ) from None
        self.refuse_private_lookups(ast.lookup_names(self.row_filter_expr))
        return text.strip()

    def clean_presets(self) -> dict[str, Any]:
        presets = self.cleaned_data.get("presets")
        if presets in (None, ""):
            return {}
        if not isinstance(presets, dict):
            raise ValidationError(
                'Presets must be a JSON object of column → value, e.g. {"owner_id": "{user.id}"}.',
                code="invalid",
            )
        self.refuse_private_lookups(
            match["name"]
            for value in presets.values()
            if isinstance(value, str) and (match := PRESET_LOOKUP.fullmatch(value.strip()))
        )
        return presets

    def clean_max_page_size(self) -> int | None:
        size: int | None = self.cleaned_data.get("max_page_size")
        if size == 0:
            raise ValidationError("Leave empty for no cap, or give at least 1.", code="min_value")
        return size

    def refuse_private_lookups(self, names: Iterable[str]) -> None:
        private = private_lookup_keys(names)
        if private:
            raise ValidationError(
                "private lookups are only available to scripts: %(names)s",
                code="private_lookup",
                params={"names": ", ".join(f"{{{name}}}" for name in private)},
            )

    # --- against the service's schema ---

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        assert data is not None
        service: Service | None = data.get("service")
        component: str | None = data.get("component")
        table_name = table_of_component(component)
        if service is None or table_name is None:
            return data
        snapshot = self.schemas.snapshot(service)
        if snapshot is None:
            return data  # the admin warns; the API re-checks every filter at request time
        table = snapshot.table(table_name)
        if table is None:
            self.add_error(
                "component", f"Table '{table_name}' does not exist in service '{service.name}'."
            )
            return data
        self.show_columns_of(service, component)
        self.check_columns(data, table, snapshot)
        return data

    def check_columns(
        self, data: Mapping[str, Any], table: Table, snapshot: SchemaSnapshot
    ) -> None:
        """Add an error to each field that names a column `table` does not have."""
        for name in ("readable_columns", "writable_columns"):
            unknown = [column for column in data.get(name) or () if table.column(column) is None]
            if unknown:
                self.add_error(name, unknown_columns_error(unknown, table))
        if "row_filter" in data and self.row_filter_expr is not None:
            unknown = unknown_fields(self.row_filter_expr, table, snapshot)
            if unknown:
                self.add_error("row_filter", unknown_columns_error(unknown, table))
        presets = data.get("presets")
        if isinstance(presets, dict):
            unknown = [column for column in presets if table.column(column) is None]
            if unknown:
                self.add_error("presets", unknown_columns_error(unknown, table))


def unknown_columns_error(names: list[str], table: Table) -> ValidationError:
    noun = "column" if len(names) == 1 else "columns"
    return ValidationError(
        "Unknown %(noun)s in table '%(table)s': %(names)s",
        code="unknown_column",
        params={"noun": noun, "table": table.name, "names": ", ".join(names)},
    )


class LookupForm(forms.ModelForm[Lookup]):
    """A lookup belongs to the system (no owner) or to exactly one app, role or user."""

    class Meta:
        model = Lookup
        fields = ("key", "value", "private", "app", "role", "user")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        assert data is not None
        owners = [name for name in ("app", "role", "user") if data.get(name) is not None]
        if len(owners) > 1:
            self.add_error(
                None,
                "A lookup belongs to one app, one role or one user (or to none: the system).",
            )
        key = data.get("key") or ""
        if "{" in key or "}" in key:
            self.add_error("key", "Give the name without braces, e.g. region for {region}.")
        return data


class ExplainForm(forms.Form):
    """What to explain: a table of a service, for a sample caller, verb and requestor.

    Bound only once a table is chosen; until then, the choices shown fill the
    initial values (so changing the service just lists its tables).
    """

    service = forms.ModelChoiceField(queryset=Service.objects.filter(active=True))
    table = forms.ChoiceField(choices=())
    user = forms.ModelChoiceField(
        queryset=get_user_model().objects.order_by("username"),
        required=False,
        label="Sample user",
        help_text="Fills {user.id} and the user's own lookups.",
    )
    app = forms.ModelChoiceField(queryset=App.objects.all(), required=False)
    verb = forms.ChoiceField(choices=[(verb, verb) for verb in VERBS], initial="GET")
    requestor = forms.ChoiceField(
        choices=[(requestor, requestor) for requestor in REQUESTORS], initial="API"
    )

    def __init__(self, query: Mapping[str, str], *, role: Role, schemas: ServiceSchemas) -> None:
        defaults = {"verb": "GET", "requestor": "API"}
        if "table" in query:
            super().__init__(data={**defaults, **query})
        else:
            super().__init__(initial={**defaults, **query})
        self.role = role
        self.snapshot: SchemaSnapshot | None = None
        service = self.chosen_service(query)
        if service is not None:
            self.initial.setdefault("service", service.pk)
            self.snapshot = schemas.snapshot(service)
        if self.snapshot is not None:
            tables = self.fields["table"]
            assert isinstance(tables, forms.ChoiceField)
            tables.choices = [(name, name) for name in sorted(self.snapshot.tables)]
            if not self.is_bound:
                self.initial.setdefault("table", self.first_table(service, self.snapshot))

    def chosen_service(self, query: Mapping[str, str]) -> Service | None:
        """The service asked for, else the first one the role's rules name, else the first active."""
        field = self.fields["service"]
        assert isinstance(field, forms.ModelChoiceField)
        if query.get("service"):
            try:
                chosen: Service = field.clean(query["service"])
            except ValidationError:
                return None
            return chosen
        named = Service.objects.filter(active=True, access_rules__role=self.role).order_by("name")
        first = named.first()
        return first if first is not None else Service.objects.filter(active=True).first()

    def first_table(self, service: Service | None, snapshot: SchemaSnapshot) -> str:
        """The first table the role's rules on `service` name, else the first table."""
        rules = AccessRule.objects.filter(role=self.role, service=service).order_by("pk")
        for component in rules.values_list("component", flat=True):
            table = table_of_component(component)
            if table is not None and table in snapshot.tables:
                return table
        return min(snapshot.tables, default="")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        assert data is not None
        if data.get("service") is not None and self.snapshot is None:
            self.add_error("service", "The schema of this service cannot be read right now.")
        return data


class AppForm(forms.ModelForm[App]):
    """An app; its browser origins must each be `scheme://host[:port]` (stored normalized)."""

    class Meta:
        model = App
        fields = ("name", "description", "active", "default_role", "cors_origins")
        widgets: ClassVar[dict[str, forms.Widget]] = {
            "cors_origins": forms.Textarea(attrs={"rows": 3})
        }

    def clean_cors_origins(self) -> str:
        text: str = self.cleaned_data.get("cors_origins") or ""
        try:
            return "\n".join(parse_origins(text))
        except InvalidOrigin as error:
            raise ValidationError(str(error), code="invalid_origin") from None
