"""Checks of a sync job against both of its sides: the service's table and HubSpot's properties.

One rule: a job is saved only when it can work: its table and columns exist
in the service's schema snapshot (`services.schema_cache`, the table named as
the API names it), its HubSpot properties exist on the object type (read
through the client, kept `PROPERTIES_SECONDS`), and every mapping passes
`sync.transforms.check_mapping`. Each problem names the form field to fix;
a database or HubSpot that cannot be reached is a problem too, never an
exception that escapes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

import psycopg

from config.crypto import DecryptionError
from config.ttlcache import TTLCache
from services.models import Service
from services.pools import ServiceUnavailable
from services.schema_cache import get_snapshot
from services.sql.schema import Table
from sync.hubspot.errors import (
    AuthenticationError,
    HubSpotError,
    MissingScopesError,
    RequestRejected,
)
from sync.hubspot.types import PropertyDefinition
from sync.jobspec import RECORD_ID
from sync.models import HubSpotAccount, SyncJob
from sync.transforms.checks import DIRECT_KINDS

PROPERTIES_SECONDS = 60.0
# A failure is remembered a little while too, so one save does not ask twice.
FAILURE_SECONDS = 5.0
WATERMARK_KINDS = frozenset({"datetime", "date", "integer", "number"})
WRITE_BACK_KINDS: Mapping[str, frozenset[str]] = {
    "writeback_id_column": frozenset({"string", "integer", "number"}),
    "writeback_synced_at_column": frozenset({"datetime", "string"}),
    "writeback_status_column": frozenset({"string"}),
    "writeback_error_column": frozenset({"string"}),
}
# Unique properties HubSpot accepts as a match key besides `hasUniqueValue` ones.
BUILT_IN_KEYS: Mapping[str, str] = {
    "contacts": "email",
    "contact": "email",
    "0-1": "email",
    "companies": "domain",
    "company": "domain",
    "0-2": "domain",
}


class Problem(Exception):
    """Something on one side a job cannot work with; `field` is the form field to fix."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


# --- HubSpot properties, kept briefly ---------------------------------------------------

PropertyMap = Mapping[str, PropertyDefinition]
_properties: TTLCache[tuple[int, str, str], PropertyMap] = TTLCache(PROPERTIES_SECONDS)
_failures: dict[tuple[int, str, str], tuple[float, Problem]] = {}
_failures_lock = threading.Lock()


def forget_properties() -> None:
    """Drop every cached property list and failure (tests; after a schema change in HubSpot)."""
    _properties.clear()
    with _failures_lock:
        _failures.clear()


def _hubspot_problem(account: HubSpotAccount, object_type: str, error: HubSpotError) -> Problem:
    if isinstance(error, AuthenticationError):
        return Problem(
            "account",
            f"HubSpot refused account '{account.name}''s token (401). Set a valid token on the "
            "account.",
        )
    if isinstance(error, MissingScopesError):
        return Problem(
            "account",
            f"Account '{account.name}''s token may not read {object_type} properties (403): "
            "give the private app the object's schema read scope.",
        )
    if isinstance(error, RequestRejected) and error.status in (400, 404):
        detail = error.error.message if error.error else ""
        return Problem(
            "object_type", f"HubSpot has no object type '{object_type}': {detail}".rstrip(": ")
        )
    return Problem(
        "account",
        f"HubSpot at {account.base_url} could not be reached to read the {object_type} "
        f"properties: {error}",
    )


def _fetch_properties(account: HubSpotAccount, object_type: str) -> PropertyMap:
    try:
        client = account.client(interactive=True)
    except DecryptionError:
        raise Problem(
            "account",
            f"Account '{account.name}''s token cannot be decrypted with the configured keys; "
            "set it again.",
        ) from None
    except ValueError as error:
        raise Problem("account", f"Account '{account.name}' is misconfigured: {error}") from None
    try:
        with client:
            found = client.list_properties(object_type)
    except HubSpotError as error:
        raise _hubspot_problem(account, object_type, error) from None
    return {prop.name: prop for prop in found}


def hubspot_properties(account: HubSpotAccount, object_type: str) -> PropertyMap:
    """The property definitions of `object_type` by name, read through the account's client.

    Kept `PROPERTIES_SECONDS` per account version and object type. Raises
    Problem (on `account` or `object_type`) when HubSpot cannot be reached,
    refuses the token or does not know the object type.
    """
    stamp = account.updated_at.isoformat() if account.updated_at else ""
    key = (account.pk, stamp, object_type)
    with _failures_lock:
        failed = _failures.get(key)
    if failed is not None and time.monotonic() - failed[0] < FAILURE_SECONDS:
        raise failed[1]
    try:
        return _properties.get(key, lambda: _fetch_properties(account, object_type))
    except Problem as problem:
        with _failures_lock:
            _failures[key] = (time.monotonic(), problem)
        raise


# --- the table --------------------------------------------------------------------------


def service_table(service: Service, name: str) -> Table:
    """The table or view `name` of `service`, as the API resolves it; raises Problem."""
    try:
        snapshot = get_snapshot(service.config())
    except DecryptionError:
        raise Problem(
            "service", f"Service '{service.name}''s password cannot be decrypted; set it again."
        ) from None
    except (psycopg.Error, ServiceUnavailable):
        raise Problem(
            "service",
            f"Service '{service.name}''s database could not be reached to check the table.",
        ) from None
    table = snapshot.table(name)
    if table is None:
        raise Problem("table", f"Service '{service.name}' has no table or view '{name}'.")
    return table


@dataclass(frozen=True, slots=True)
class JobTarget:
    """Both sides of a job: the table and the object type's properties."""

    table: Table
    properties: PropertyMap


def job_target(job: SyncJob) -> JobTarget:
    """Load the job's table and its object type's properties; raises Problem."""
    table = service_table(job.service, job.table)
    return JobTarget(table, hubspot_properties(job.account, job.object_type))


def _is_unique_key(object_type: str, prop: PropertyDefinition) -> bool:
    return prop.has_unique_value or BUILT_IN_KEYS.get(object_type.lower()) == prop.name


def _match_problems(job: SyncJob, target: JobTarget) -> list[Problem]:
    problems: list[Problem] = []
    column = target.table.column(job.match_column)
    if column is None:
        problems.append(
            Problem(
                "match_column", f"'{job.match_column}' is not a column of '{target.table.name}'."
            )
        )
    if job.match_property == RECORD_ID:
        if column is not None and column.json_kind not in ("integer", "number", "string"):
            problems.append(
                Problem(
                    "match_column",
                    f"Column '{column.name}' ({column.type_name}) cannot hold HubSpot record ids; "
                    "use a text or integer column.",
                )
            )
        return problems
    prop = target.properties.get(job.match_property)
    if prop is None:
        problems.append(
            Problem(
                "match_property",
                f"HubSpot {job.object_type} have no property '{job.match_property}'.",
            )
        )
        return problems
    if not _is_unique_key(job.object_type, prop):
        built_in = BUILT_IN_KEYS.get(job.object_type.lower())
        usable = f"{built_in}, " if built_in else ""
        problems.append(
            Problem(
                "match_property",
                f"HubSpot property '{prop.name}' is not unique, so it cannot match records: use "
                f"{usable}a property with unique values, or {RECORD_ID}.",
            )
        )
    kinds = DIRECT_KINDS.get(prop.type)
    if column is not None and kinds is not None and column.json_kind not in kinds:
        problems.append(
            Problem(
                "match_column",
                f"type mismatch: column '{column.name}' is {column.json_kind} "
                f"({column.type_name}) but '{prop.name}' is {prop.type}.",
            )
        )
    return problems


def job_problems(job: SyncJob, target: JobTarget) -> list[Problem]:
    """Why the job's own settings do not fit its table and object type; empty when they do.

    Checks the match key (a column of the table and a unique property, or
    `hs_object_id`), the watermark column (a timestamp or number) and the
    write-back columns (present, of a type that takes what is written, not
    filled by the database).
    """
    problems = _match_problems(job, target)
    if job.watermark_column:
        column = target.table.column(job.watermark_column)
        if column is None:
            problems.append(
                Problem(
                    "watermark_column",
                    f"'{job.watermark_column}' is not a column of '{target.table.name}'.",
                )
            )
        elif column.json_kind not in WATERMARK_KINDS:
            problems.append(
                Problem(
                    "watermark_column",
                    f"A watermark must be a timestamp or number column; '{column.name}' is "
                    f"{column.type_name}.",
                )
            )
    for field, kinds in WRITE_BACK_KINDS.items():
        name = getattr(job, field)
        if not name:
            continue
        column = target.table.column(name)
        if column is None:
            problems.append(Problem(field, f"'{name}' is not a column of '{target.table.name}'."))
        elif column.auto or column.is_generated or column.is_identity:
            problems.append(Problem(field, f"Column '{name}' is filled by the database."))
        elif column.json_kind not in kinds or column.enum_labels is not None:
            problems.append(
                Problem(
                    field,
                    f"Column '{name}' ({column.type_name}) cannot take this value; use a "
                    f"{' or '.join(sorted(kinds))} column.",
                )
            )
    return problems
