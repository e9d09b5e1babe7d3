"""drf-spectacular's `SchemaGenerator`, fed by one service's schema and one caller's access.

One rule: endpoints come from the `ServicePlan` (the schema snapshot seen
through the caller's `Access`), never from the urlconf; each is served by the
view that really answers it — the factory-built viewset of its table, or the
API view of its path — and described by a `ServiceAutoSchema`.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.plumbing import ResolvedComponent, alpha_operation_sorter

from services.api.access import Access
from services.api.factory import viewset_for
from services.api.openapi.compact import compact
from services.api.openapi.components import SHARED
from services.api.openapi.inspector import DocumentContext, ServiceAutoSchema
from services.api.openapi.plan import Operation, plan_service
from services.api.openapi.serializers import SerializerSet
from services.connection import ServiceConfig
from services.sql.schema import SchemaSnapshot

COLLECTION_ACTIONS = {
    "GET": "list",
    "POST": "create",
    "PUT": "update",
    "PATCH": "partial_update",
    "DELETE": "destroy",
}
RECORD_ACTIONS = {**COLLECTION_ACTIONS, "GET": "retrieve"}
INFO = """The `{service}` service of Sluicegate, as {who} sees it: only the tables, fields,
verbs and routines this caller may use are listed.

Speaks DreamFactory's v2 database API. Every error answers
`{{"error": {{"code", "message", "status_code", "context", "request_id"}}}}`. A POST
with `X-HTTP-Method: GET|PUT|PATCH|DELETE` (or `?method=`) acts as that verb, so
long `ids` or `filter` values can travel in the body. Booleans accept
`true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`. Rate-limited answers carry
`X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset`."""


class ServiceSchemaGenerator(SchemaGenerator):
    """The OpenAPI 3.1 document of `config`'s service at `snapshot`, for the caller of `access`.

    `origin` (`https://host`) makes the server and OAuth 2.0 URLs absolute.
    """

    def __init__(
        self,
        *,
        config: ServiceConfig,
        snapshot: SchemaSnapshot,
        access: Access,
        origin: str,
    ) -> None:
        super().__init__(patterns=[])  # type: ignore[no-untyped-call]  # drf-spectacular leaves it unannotated
        self.config = config
        self.snapshot = snapshot
        self.origin = origin
        self.plan = plan_service(access, snapshot)
        self.document = DocumentContext(
            plan=self.plan,
            origin=origin,
            max_records=config.max_records,
            serializers=SerializerSet(),
        )
        self.operations = {(op.path, op.method): op for op in self.plan.operations}

    def _initialise_endpoints(self) -> None:
        if self.endpoints is not None:
            return
        callbacks: dict[str, Callable[..., Any]] = {}
        endpoints = []
        for op in self.plan.operations:
            if op.path not in callbacks:
                callbacks[op.path] = self.callback(op)
            path_regex = "^" + re.escape(op.path) + "$"
            endpoints.append((op.path, path_regex, op.method, callbacks[op.path]))
        self.endpoints: list[tuple[str, str, str, Callable[..., Any]]] = sorted(
            endpoints, key=alpha_operation_sorter
        )

    def callback(self, op: Operation) -> Callable[..., Any]:
        """The view function that answers `op`'s path (with every verb the caller may use)."""
        from services.api import routines, schema_writes, spec, views

        if op.kind in ("records", "record"):
            assert op.table is not None
            actions = COLLECTION_ACTIONS if op.kind == "records" else RECORD_ACTIONS
            verbs = [o.method for o in self.plan.operations if o.path == op.path]
            viewset = viewset_for(self.config.name, self.snapshot.version, op.table.table)
            return viewset.as_view({verb.lower(): actions[verb] for verb in verbs})
        view: Any = {
            "tables": views.TableIndexView,
            "schemas": schema_writes.SchemaIndexWriteView,
            "schema": schema_writes.SchemaTableWriteView,
            "spec": spec.SpecView,
        }.get(op.kind)
        if view is None:  # routines and their index
            procedure = op.path.startswith("/_proc")
            if op.kind == "routines":
                view = routines.ProcedureIndexView if procedure else routines.RoutineIndexView
            else:
                view = routines.ProcedureView if procedure else routines.RoutineView
        found: Callable[..., Any] = view.as_view()
        return found

    def _get_paths_and_endpoints(self) -> list[tuple[str, str, str, Any]]:
        found = []
        for path, path_regex, method, callback in self.endpoints:
            view = self.create_view(callback, method)  # type: ignore[no-untyped-call]  # drf-spectacular leaves it unannotated
            schema = ServiceAutoSchema(self.operations[(path, method)], self.document)
            self._set_schema_to_view(view, schema)  # type: ignore[no-untyped-call]  # drf-spectacular leaves it unannotated
            found.append((path, path_regex, method, view))
        return found

    def get_schema(self, request: Any = None, public: bool = True) -> dict[str, Any]:
        """The document (a JSON-ready dict); access was decided by the plan, so always public."""
        # A copy: drf-spectacular's post-processing rewrites component schemas in place.
        for name, schema in copy.deepcopy(SHARED).items():
            component = ResolvedComponent(  # type: ignore[no-untyped-call]  # drf-spectacular leaves it unannotated
                name=name, type=ResolvedComponent.SCHEMA, object=name, schema=schema
            )
            self.registry.register_on_missing(component)
        result: dict[str, Any] = super().get_schema(request=request, public=True)  # type: ignore[no-untyped-call]  # drf-spectacular leaves it unannotated
        plan = self.plan
        who = "a superuser" if plan.superuser else f"the role `{plan.role}`"
        result["info"] = {
            "title": f"Sluicegate service {plan.service}",
            "version": self.snapshot.version[:12],
            "description": INFO.format(service=plan.service, who=who),
        }
        result["servers"] = [
            {
                "url": f"{self.origin}/api/v2/{plan.service}",
                "description": f"The {plan.service} service on this server.",
            }
        ]
        tags = sorted({op.tag for op in plan.operations})
        result["tags"] = [{"name": tag, "description": tag_text(tag)} for tag in tags]
        return compact(result)


def tag_text(tag: str) -> str:
    texts = {
        "_table": "Tables and views",
        "_schema": "Table descriptions and schema changes",
        "_func": "Functions",
        "_proc": "Stored procedures",
        "_spec": "This document",
    }
    return texts.get(tag, f"Records of {tag}")
