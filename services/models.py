"""Models of `services`: the platform's own state, kept in its PostgreSQL database."""
