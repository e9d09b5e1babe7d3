"""Who may do what: roles, access rules with column and row policies, apps
and API keys, sessions, rate limits and the audit log."""
