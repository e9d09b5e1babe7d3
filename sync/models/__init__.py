"""Models of `sync`: HubSpot accounts, sync jobs and their mappings, runs, errors and states.

One rule: each concept lives in its own module (`accounts`, `jobs`, `runs`);
every model and value is importable from `sync.models`.
"""

from sync.models.accounts import (
    API_VERSION_HELP,
    INTERACTIVE_RETRY,
    INTERACTIVE_TIMEOUTS,
    HubSpotAccount,
)
from sync.models.associations import (
    PRIMARY_TYPES,
    AssociationCategory,
    SyncAssociation,
    SyncAssociationLink,
)
from sync.models.jobs import ConflictPolicy, Direction, FieldMappingRow, Mode, SyncJob
from sync.models.runs import (
    FINISHED_STATUSES,
    RecordErrorQuerySet,
    RunStatus,
    SyncRecordError,
    SyncRecordState,
    SyncRun,
    run_is_unhealthy,
)

__all__ = [
    "API_VERSION_HELP",
    "FINISHED_STATUSES",
    "INTERACTIVE_RETRY",
    "INTERACTIVE_TIMEOUTS",
    "PRIMARY_TYPES",
    "AssociationCategory",
    "ConflictPolicy",
    "Direction",
    "FieldMappingRow",
    "HubSpotAccount",
    "Mode",
    "RecordErrorQuerySet",
    "RunStatus",
    "SyncAssociation",
    "SyncAssociationLink",
    "SyncJob",
    "SyncRecordError",
    "SyncRecordState",
    "SyncRun",
    "run_is_unhealthy",
]
