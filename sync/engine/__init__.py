"""The sync engine: push runs from a table to HubSpot, recorded as `SyncRun`s.

One rule: the engine reads a job only as its `JobSpec` and reaches the
source table only through the SQL layer, HubSpot only through the client;
`run_job` is the entry point of tasks and commands, `run_push` of callers
holding a spec and a run of their own.
"""
