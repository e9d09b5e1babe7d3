"""Event names in DreamFactory's scheme: parsing them, and the names a request fires.

One rule: a request fires at most two names per phase, generic first
(`{table_name}`, `{procedure_name}`, `{function_name}`), then specific; a
script's name is matched by string equality against them, so finding the
scripts of a request is two dictionary look-ups.

    {service}._table.{table}.{verb}.{phase}          the table's records
    {service}._table.{table}.{id}.{verb}.{phase}     one record by id
    {service}._proc.{procedure}.{verb}.{phase}       a stored procedure
    {service}._func.{function}.{verb}.{phase}        a function
    {anything}.scheduled                             run by a schedule only
    sync.{job}.failed                                a sync run failed (queued)

`{table}` may be `{table_name}` (every table), `{procedure}` may be
`{procedure_name}`, `{function}` `{function_name}` and `{job}` `{job_name}`
(every sync job); phases are `pre_process`, `post_process` and `queued`
(and `failed` for sync jobs); verbs are lower-case.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

PHASES = ("pre_process", "post_process", "queued")
SCHEDULED = "scheduled"
VERBS = ("get", "post", "put", "patch", "delete")
RESOURCES = ("_table", "_proc", "_func")
GENERIC = {"_table": "{table_name}", "_proc": "{procedure_name}", "_func": "{function_name}"}
BY_ID = "{id}"
SERVICE_PATTERN = re.compile(r"[a-z0-9_-]+")
SCHEDULED_PATTERN = re.compile(r"[A-Za-z0-9_.:-]+")
SYNC = "sync"
SYNC_FAILED = "failed"
SYNC_GENERIC = "{job_name}"
SYNC_PATTERN = re.compile(r"sync\.(?P<job>[A-Za-z0-9_-]+|\{job_name\})\.failed")


@dataclass(frozen=True, slots=True)
class EventName:
    """A parsed event name; `resource` is "" for a scheduled script."""

    phase: str
    service: str = ""
    resource: str = ""
    target: str = ""  # table or routine name, or its generic placeholder
    by_id: bool = False
    verb: str = ""

    @property
    def generic(self) -> bool:
        return self.target == GENERIC.get(self.resource)


def parse_event_name(name: str) -> EventName:
    """Return the parts of `name`; raise ValueError saying what is wrong with it."""
    text = name.strip()
    if text != name or not text:
        raise ValueError("Give an event name without surrounding spaces.")
    if text.endswith("." + SCHEDULED):
        if not SCHEDULED_PATTERN.fullmatch(text):
            raise ValueError("Use letters, digits and . _ : - in a scheduled script's name.")
        return EventName(phase=SCHEDULED)
    sync_event = SYNC_PATTERN.fullmatch(text)
    if sync_event is not None:
        return EventName(phase=SYNC_FAILED, resource=SYNC, target=sync_event["job"])
    parts = text.split(".")
    if len(parts) < 5:
        raise ValueError(
            "An event name reads {service}.{_table|_proc|_func}.{name}.{verb}.{phase}, "
            "e.g. crm._table.contact.post.pre_process; a scheduled script's ends in .scheduled."
        )
    service, resource, *middle, verb, phase = parts
    if not SERVICE_PATTERN.fullmatch(service):
        raise ValueError(f"'{service}' is not a service name.")
    if resource not in RESOURCES:
        raise ValueError(f"The resource is one of {', '.join(RESOURCES)}, not '{resource}'.")
    if verb not in VERBS:
        raise ValueError(f"The verb is one of {', '.join(VERBS)} (lower-case), not '{verb}'.")
    if phase not in PHASES:
        raise ValueError(f"The phase is one of {', '.join(PHASES)}, not '{phase}'.")
    by_id = resource == "_table" and len(middle) > 1 and middle[-1] == BY_ID
    if by_id:
        middle = middle[:-1]
    target = ".".join(middle)
    if not target or any(not part for part in middle) or "/" in target:
        raise ValueError("Name the table or routine (or its generic placeholder).")
    if resource != "_table" and verb not in ("get", "post"):
        raise ValueError("Procedures and functions are called with get or post.")
    return EventName(
        phase=phase, service=service, resource=resource, target=target, by_id=by_id, verb=verb
    )


def fired_names(
    service: str, resource: str, target: str, *, by_id: bool, verb: str, phase: str
) -> tuple[str, str]:
    """The (generic, specific) names a request fires in `phase`."""
    tail = f".{BY_ID}.{verb}.{phase}" if by_id else f".{verb}.{phase}"
    head = f"{service}.{resource}."
    return head + GENERIC[resource] + tail, head + target + tail


def sync_failed_names(job: str) -> tuple[str, str]:
    """The (generic, specific) names a failed run of sync job `job` fires."""
    return f"{SYNC}.{SYNC_GENERIC}.{SYNC_FAILED}", f"{SYNC}.{job}.{SYNC_FAILED}"


def names_for_service(
    service: str, tables: Iterable[str], procedures: Iterable[str], functions: Iterable[str]
) -> list[str]:
    """Every event name of a service's schema, for the admin's picker."""
    found: list[str] = []
    for table in (GENERIC["_table"], *tables):
        for verb in VERBS:
            for phase in PHASES:
                found.append(f"{service}._table.{table}.{verb}.{phase}")
                found.append(f"{service}._table.{table}.{BY_ID}.{verb}.{phase}")
    for resource, names in (("_proc", procedures), ("_func", functions)):
        for routine in (GENERIC[resource], *names):
            for verb in ("get", "post"):
                found.extend(f"{service}.{resource}.{routine}.{verb}.{phase}" for phase in PHASES)
    return found
