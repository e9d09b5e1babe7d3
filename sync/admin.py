"""Django admin registrations for `sync`: accounts, jobs, runs and record errors.

One rule: each concern registers itself in its own module (`admin_accounts`,
`admin_jobs`, `admin_runs`); this module only imports them so the admin's
autodiscovery finds them.
"""

from sync import admin_accounts, admin_jobs, admin_runs

__all__ = ["admin_accounts", "admin_jobs", "admin_runs"]
