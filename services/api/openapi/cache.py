"""Generated documents, cached per (service, schema version, caller's rights, origin).

One rule: a cached document is served only for the exact schema version and
the exact access rules it was generated from — the key holds the snapshot's
version and a fingerprint of the caller's role as it is now (its rules,
requestor, token scopes and the lookups it lacks) — so a schema refresh or a
role change gives the next request a new document, with no restart and no
explicit invalidation.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from typing import Any

from drf_spectacular.drainage import GENERATOR_STATS

from rbac import policies
from services.api.access import Access
from services.connection import ServiceConfig
from services.sql.schema import SchemaSnapshot

logger = logging.getLogger(__name__)

CACHE_LIMIT = 64  # documents; each is a few hundred kB at most

_documents: OrderedDict[tuple[str, ...], bytes] = OrderedDict()
_guard = threading.Lock()
# One generation at a time per process: drf-spectacular keeps its warnings in module state.
_generating = threading.Lock()


def rights_fingerprint(access: Access) -> str:
    """A digest of everything in the caller's rights that shapes the document."""
    principal = access.principal
    if principal.is_superuser:
        return "superuser"
    role = principal.role
    if role is None:
        return "no-role"
    rules = [
        {
            "id": rule.id,
            "service": rule.service,
            "component": rule.component,
            "verbs": sorted(rule.verbs),
            "requestors": sorted(rule.requestors),
            "readable": sorted(rule.readable) if rule.readable is not None else None,
            "writable": sorted(rule.writable) if rule.writable is not None else None,
            "row_filter": rule.row_filter_text,
            "presets": rule.presets,
            "max_page_size": rule.max_page_size,
            "broken": rule.broken,
        }
        for rule in access.state.rules_by_role.get(role.id, ())
    ]
    rights = {
        "role": [role.id, role.name, role.active],
        "requestor": principal.requestor,
        "verbs": sorted(principal.verbs) if principal.verbs is not None else None,
        "missing": sorted(policies.missing_lookups(access.state, principal)),
        "rules": rules,
    }
    text = json.dumps(rights, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def service_document(
    config: ServiceConfig, snapshot: SchemaSnapshot, access: Access, *, origin: str
) -> bytes:
    """The JSON text of the service's document for the caller of `access` (cached)."""
    key = (config.name, config.stamp, snapshot.version, origin, rights_fingerprint(access))
    with _guard:
        found = _documents.get(key)
        if found is not None:
            _documents.move_to_end(key)
            return found
    with _generating:
        with _guard:  # another thread may have just built it
            found = _documents.get(key)
        if found is not None:
            return found
        document = generate(config, snapshot, access, origin=origin)
        body = json.dumps(document, separators=(",", ":")).encode()
        with _guard:
            _documents[key] = body
            while len(_documents) > CACHE_LIMIT:
                _documents.popitem(last=False)
    return body


def generate(
    config: ServiceConfig, snapshot: SchemaSnapshot, access: Access, *, origin: str
) -> dict[str, Any]:
    """Generate the document now (uncached); drf-spectacular's warnings go to the log."""
    from services.api.openapi.generator import ServiceSchemaGenerator

    started = time.perf_counter()
    generator = ServiceSchemaGenerator(
        config=config, snapshot=snapshot, access=access, origin=origin
    )
    with GENERATOR_STATS.silence():
        document = generator.get_schema()
        problems = [*GENERATOR_STATS._warn_cache, *GENERATOR_STATS._error_cache]
    for problem in problems:
        logger.warning("service %s: OpenAPI generation: %s", config.name, problem)
    logger.info(
        "service %s: OpenAPI document generated in %.0f ms",
        config.name,
        (time.perf_counter() - started) * 1000,
    )
    return document


def forget_documents() -> None:
    """Drop every cached document (tests)."""
    with _guard:
        _documents.clear()
