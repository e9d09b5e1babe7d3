"""The DRF baseline of the read and write benchmarks: a hand-written ModelViewSet over `contacts`.

A minimal, separate Django project (settings `bench.drf_baseline.settings`,
WSGI `bench.drf_baseline.wsgi:application`) showing what a team would write
without Sluicegate: an unmanaged model, a ModelSerializer with every field, a
ModelViewSet with limit/offset pagination and a `company_id` filter, whose
create takes a JSON array too (a `ListSerializer` doing one `bulk_create`).
It is generous to the baseline: no authentication, no throttling, JSON only.

One rule: only `bench.read_api` and `bench.write_api` use it, each against a
throwaway database of its own.
"""
