"""Models of `sync`: the platform's own state, kept in its PostgreSQL database."""
