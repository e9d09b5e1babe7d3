"""PostgreSQL database services: connections, schema introspection and the
/api/v2/{service}/... table API."""
