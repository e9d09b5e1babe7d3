"""A sync job as the engine sees it: plain values built from the `SyncJob` model.

One rule: the engine reads a job only through these values (and writes its
outcome through `sync.runs`), so it can be driven by a model, a test or a
benchmark alike, and a job edited while it runs does not change under it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from sync.hubspot.settings import AccountSettings

Direction = Literal["push", "pull", "both"]
Mode = Literal["upsert", "update_only", "create_only", "mirror"]
ConflictPolicy = Literal["newest", "postgres", "hubspot"]
MappingDirection = Literal["push", "pull", "both"]

# The match property that means "the column stores HubSpot's record id".
RECORD_ID = "hs_object_id"


@dataclass(frozen=True, slots=True)
class FieldMapping:
    """One column <-> one HubSpot property, with an optional transform.

    `transform` names one of `sync.transforms.TRANSFORMS` ("" for none);
    `options` are that transform's settings (e.g. `{"values": {...}}` for an
    enum value map, `{"value": ...}` for a default, `{"separator": ";"}` to
    join an array).
    """

    column: str
    property: str
    transform: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    direction: MappingDirection = "both"


@dataclass(frozen=True, slots=True)
class WriteBack:
    """Columns of the source table the engine fills after each batch ("" = not kept)."""

    hubspot_id: str = ""
    synced_at: str = ""
    status: str = ""
    error: str = ""


@dataclass(frozen=True, slots=True)
class JobSpec:
    """Everything a run needs to know about its job."""

    job_id: int
    name: str
    service: str
    table: str
    object_type: str
    direction: Direction
    mode: Mode
    match_column: str
    match_property: str
    mappings: tuple[FieldMapping, ...]
    account: AccountSettings
    watermark_column: str = ""
    write_back: WriteBack = field(default_factory=WriteBack)
    conflict_policy: ConflictPolicy = "newest"
    max_deletions: int = 100
    dry_run: bool = False

    @property
    def matches_by_record_id(self) -> bool:
        """Whether the match column stores HubSpot's record id (not a unique property)."""
        return self.match_property == RECORD_ID
