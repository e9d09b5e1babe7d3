"""The `/api/v2` views: services, a service's resources, tables, schemas, and the table router.

One rule: the caller is authenticated and given an `Access` before any
service, table or column name is looked at, so an anonymous or unprivileged
caller learns nothing about what exists.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import psycopg
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    JsonResponse,
    StreamingHttpResponse,
)
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from rbac.authentication import AdminSessionAuthentication, CredentialAuthentication
from rbac.limits import ApiRateLimit, add_rate_limit_headers
from rbac.limits import settle as settle_rate_limit
from rbac.permissions import HasUsableRole, principal_of
from rbac.policies import Principal, database_claims, database_role
from services.api.access import Access, bind_access, can_reach_service
from services.api.describe import describe_table, label
from services.api.errors import ApiError, envelope
from services.api.factory import viewset_for
from services.api.idempotency import with_idempotency
from services.api.params import parse_bool
from services.api.reads import ReadContext, json_response
from services.api.registry import active_service_labels, service_config
from services.api.tunnel import TUNNELLED_METHODS, overridden_method
from services.api.writes import WriteContext, read_body, write_records
from services.connection import ServiceConfig
from services.pools import DbIdentity, ServiceUnavailable, set_db_identity
from services.schema_cache import get_snapshot, refresh_snapshot
from services.scripting.dispatch import Fired, ScriptAnswer, post_process, pre_process
from services.sql.policy import Policy
from services.sql.schema import SchemaSnapshot, Table

# `ApiView.shared`: (view class, attribute) -> the instances of the classes it names.
_components: dict[tuple[type, str], tuple[Any, ...]] = {}


def db_identity(principal: Principal) -> DbIdentity:
    """Who `principal`'s requests act as in a service that assumes roles."""
    return DbIdentity(pg_role=database_role(principal), claims=database_claims(principal))


def request_values(request: Request) -> dict[str, Any]:
    """Query parameters, plus the JSON body's keys for a POST tunnelled as GET."""
    values: dict[str, Any] = dict(request.query_params.items())
    if request.method == "POST" and isinstance(request.data, dict):
        values.update(request.data)
    return values


class FixedNegotiation(BaseContentNegotiation):
    """The views choose their own formats (JSON, or CSV/NDJSON streams from `Accept`)."""

    def select_parser(self, request: Request, parsers: Any) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(self, request: Request, renderers: Any, format_suffix: Any = None) -> Any:
        return renderers[0], renderers[0].media_type


def forbidden(verb: str, component: str, service: str) -> ApiError:
    return ApiError(
        403,
        f"Access Forbidden. {verb} access to component '{component}' of service "
        f"'{service}' is not allowed by this user's role.",
    )


class ApiView(APIView):
    """Base of every `/api/v2` view: authentication, access, the error envelope."""

    authentication_classes = (CredentialAuthentication, AdminSessionAuthentication)
    permission_classes = (HasUsableRole,)
    content_negotiation_class = FixedNegotiation
    throttle_classes = (ApiRateLimit,)
    principal: Principal
    access: Access
    permitted = False  # `answer_permitted` has authenticated and permitted the caller
    scripts: Fired | None = None  # the request's event, when event scripts are configured for it

    @classmethod
    def answer_permitted(
        cls, request: HttpRequest, kwargs: dict[str, Any]
    ) -> HttpResponseBase | None:
        """DRF's `dispatch` of this view, for a caller it authenticates and permits; else None.

        The same steps as `dispatch` (authentication, permissions, throttles,
        the handler, the error envelope, `finalize_response`), run only once
        the credential is known good: a refused caller (no, bad or expired
        credential, inactive app or role), or one whose credential cannot be
        checked now, returns None here, before anything is counted, and the
        full path answers it. `config.handlers` calls this for table reads
        instead of resolving the URL and building the view through Django.
        """
        view = cls()
        view.args, view.kwargs = (), kwargs
        view.format_kwarg = None
        drf_request = view.initialize_request(request, **kwargs)
        view.request = drf_request
        view.headers = view.default_response_headers
        try:
            view.perform_authentication(drf_request)
            view.check_permissions(drf_request)
        except Exception:  # refused, or unable to tell: the full path answers
            return None
        view.permitted = True
        try:
            view.initial(drf_request, **kwargs)
            handler = getattr(view, str(drf_request.method).lower(), view.http_method_not_allowed)
            response = handler(drf_request, **kwargs)
        except Exception as exc:
            response = view.handle_exception(exc)
        view.response = view.finalize_response(drf_request, response, **kwargs)
        return view.response

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        principal = principal_of(request)
        assert principal is not None  # HasUsableRole refused the request otherwise
        self.principal = principal
        set_db_identity(partial(db_identity, principal))
        self.scripts = pre_process(self, request, kwargs)

    def check_permissions(self, request: Request) -> None:
        """DRF's check, skipped when `answer_permitted` has just made it."""
        if not self.permitted:
            super().check_permissions(request)

    def shared(self, attribute: str) -> list[Any]:
        """One instance of each class the view's `attribute` names, made once per view class.

        DRF makes new ones on every request; the authentication, permission
        and throttle classes of the API keep no state between calls, so one
        set serves every request and thread.
        """
        key = (type(self), attribute)
        found = _components.get(key)
        if found is None:
            found = _components[key] = tuple(kind() for kind in getattr(self, attribute))
        return list(found)

    def get_authenticators(self) -> list[Any]:
        return self.shared("authentication_classes")

    def get_permissions(self) -> list[Any]:
        return self.shared("permission_classes")

    def get_throttles(self) -> list[Any]:
        return self.shared("throttle_classes")

    def handle_exception(self, exc: Exception) -> Response:
        """A pre_process script's own answer is sent as it is."""
        if isinstance(exc, ScriptAnswer):
            return exc.response  # type: ignore[return-value]  # finalize_response takes any response
        return super().handle_exception(exc)

    @property
    def default_response_headers(self) -> dict[str, str]:
        """None: `Allow` goes on 405 answers only (see `finalize_response`), as DreamFactory does."""
        return {}

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        """Run post_process scripts, settle a GET's rate limit count, add the limit headers."""
        if self.scripts is not None:
            response = post_process(self, request, response, self.scripts)  # type: ignore[assignment]  # any response
        refusal = settle_rate_limit(request)
        if refusal is not None:
            response = self.handle_exception(refusal)
        response = super().finalize_response(request, response, *args, **kwargs)
        if response.status_code == 405:
            response["Allow"] = ", ".join(self.allowed_methods)
        add_rate_limit_headers(request, response)
        return response

    def post(
        self, request: Request, *args: Any, **kwargs: Any
    ) -> HttpResponse | StreamingHttpResponse:
        """`X-HTTP-Method: GET|PUT|PATCH|DELETE` (or `?method=`) tunnels that verb through POST.

        The body is read first, so an over-size one is refused (413) before
        anything parses it.
        """
        method = overridden_method(request)
        if method in TUNNELLED_METHODS and hasattr(self, method.lower()):
            read_body(request)
            handler = getattr(self, method.lower())
            return handler(request, *args, **kwargs)  # type: ignore[no-any-return]
        raise ApiError(405, f"Method {request.method} is not allowed on this resource.")

    def service(self, name: str) -> ServiceConfig:
        """The service called `name`; one the caller may not reach answers like a missing one."""
        config = service_config(name)
        if config is None or not can_reach_service(self.principal, name):
            raise ApiError(404, f"Service '{name}' not found.")
        return config

    def snapshot(self, config: ServiceConfig, *, refresh: bool = False) -> SchemaSnapshot:
        """The service's schema, with the caller's access to it bound to `self.access`."""
        try:
            snapshot = refresh_snapshot(config) if refresh else get_snapshot(config)
        except ServiceUnavailable as error:
            raise ApiError(503, str(error)) from None
        except psycopg.Error:  # the database is down or refuses us
            raise ApiError(503, f"Service '{config.name}' is unavailable.") from None
        self.access = bind_access(self.principal, config.name, snapshot)
        return snapshot

    def table(self, snapshot: SchemaSnapshot, name: str, verb: str = "GET") -> tuple[Table, Policy]:
        """The table and the caller's policy for `verb` on it.

        A table the caller can reach with no verb answers exactly like a
        missing one (404); one reachable with other verbs only answers 403.
        """
        table = snapshot.table(name)
        if table is not None:
            policy = self.access.policy_for(table, verb)
            if policy is not None:
                return table, policy
            if self.access.verbs_for(table):
                raise forbidden(verb, f"_table/{table.name}", self.access.service)
        raise ApiError(404, f'Table "{name}" does not exist in the database.')


class ServicesView(ApiView):
    """GET /api/v2: the services the caller can reach."""

    def get(self, request: Request) -> HttpResponse:
        services = [
            (name, service_label)
            for name, service_label in active_service_labels()
            if can_reach_service(self.principal, name)
        ]
        if parse_bool(request.query_params, "as_list"):
            return JsonResponse({"resource": [name for name, _label in services]})
        return JsonResponse(
            {
                "resource": [
                    {"name": name, "label": service_label or label(name), "type": "pgsql"}
                    for name, service_label in services
                ]
            }
        )


class ServiceView(ApiView):
    """GET /api/v2/{service}: the service's resources."""

    RESOURCES = ("_schema", "_table", "_proc", "_func", "_spec")

    def get(self, request: Request, service: str) -> HttpResponse:
        self.service(service)
        if parse_bool(request.query_params, "as_list"):
            return JsonResponse({"resource": list(self.RESOURCES)})
        return JsonResponse({"resource": [{"name": name} for name in self.RESOURCES]})


class TableIndexView(ApiView):
    """GET /api/v2/{service}/_table: reachable tables and views."""

    def get(self, request: Request, service: str) -> HttpResponse:
        config = self.service(service)
        refresh = parse_bool(request.query_params, "refresh") and self.principal.is_superuser
        snapshot = self.snapshot(config, refresh=refresh)
        tables = [table for table in snapshot.tables.values() if self.access.verbs_for(table)]
        if parse_bool(request.query_params, "as_list"):
            return JsonResponse({"resource": [table.name for table in tables]})
        return JsonResponse(
            {
                "resource": [
                    {
                        "name": table.name,
                        "label": label(table.name),
                        "is_view": table.is_view,
                        "access": self.access.verbs_for(table),
                    }
                    for table in tables
                ]
            }
        )


class TableView(ApiView):
    """`_table/{table}[/{id}]`: reads routed to the table's ViewSet, writes to `services.api.writes`."""

    def get(
        self, request: Request, service: str, table: str, pk: str | None = None
    ) -> HttpResponse | StreamingHttpResponse:
        config = self.service(service)
        snapshot = self.snapshot(config)
        found, policy = self.table(snapshot, table)
        viewset = viewset_for(config.name, snapshot.version, found)(
            request=request, format_kwarg=None, args=(), kwargs={"pk": pk} if pk else {}
        )
        viewset.action = "retrieve" if pk is not None else "list"
        viewset.context = ReadContext(config, snapshot, found, self.access, policy)
        viewset.request_values = request_values(request)
        if pk is not None:
            return viewset.retrieve(request, pk)
        return viewset.list(request)

    def post(
        self, request: Request, service: str, table: str, pk: str | None = None
    ) -> HttpResponse | StreamingHttpResponse:
        """Create records, unless another verb is tunnelled through the POST."""
        if overridden_method(request) in TUNNELLED_METHODS:
            return super().post(request, service, table, pk)
        return self.write(request, "POST", service, table, pk)

    def put(
        self, request: Request, service: str, table: str, pk: str | None = None
    ) -> HttpResponse:
        return self.write(request, "PUT", service, table, pk)

    def patch(
        self, request: Request, service: str, table: str, pk: str | None = None
    ) -> HttpResponse:
        return self.write(request, "PATCH", service, table, pk)

    def delete(
        self, request: Request, service: str, table: str, pk: str | None = None
    ) -> HttpResponse:
        return self.write(request, "DELETE", service, table, pk)

    def write(
        self, request: Request, verb: str, service: str, table: str, pk: str | None
    ) -> HttpResponse:
        config = self.service(service)
        snapshot = self.snapshot(config)
        found, policy = self.table(snapshot, table, verb)
        context = WriteContext(
            config=config,
            snapshot=snapshot,
            table=found,
            access=self.access,
            principal=self.principal,
            verb=verb,
            policy=policy,
            read_policy=self.access.policy_for(found, "GET"),
        )
        return with_idempotency(
            request, self.principal, lambda: write_records(context, request, pk), method=verb
        )


class SchemaIndexView(ApiView):
    """GET /api/v2/{service}/_schema: the reachable tables' names."""

    def get(self, request: Request, service: str) -> HttpResponse:
        snapshot = self.snapshot(self.service(service))
        names = [
            table.name
            for table in snapshot.tables.values()
            if self.access.policy_for(table) is not None
            and "GET" in self.access.component_verbs(f"_schema/{table.name}")
        ]
        if parse_bool(request.query_params, "as_list"):
            return JsonResponse({"resource": names})
        return JsonResponse({"resource": [{"name": name, "label": label(name)} for name in names]})


class SchemaTableView(ApiView):
    """GET /api/v2/{service}/_schema/{table}: one table described."""

    def get(self, request: Request, service: str, table: str) -> HttpResponse:
        snapshot = self.snapshot(self.service(service))
        found, policy = self.table(snapshot, table)
        component = f"_schema/{found.name}"
        if "GET" not in self.access.component_verbs(component):
            raise forbidden("GET", component, service)
        body = describe_table(
            snapshot,
            found,
            policy,
            policy_of=self.access.policy_for,
            access=self.access.verbs_for(found),
        )
        return json_response(json.dumps(body))


def unknown_path(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Any other path under /api/v2: 404 in the envelope."""
    return JsonResponse(envelope(404, "Resource not found."), status=404)
