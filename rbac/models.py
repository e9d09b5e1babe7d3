"""Models of `rbac`: the platform's own state, kept in its PostgreSQL database."""
