"""The HTTP edge of database services: `/api/v2` routes, viewsets, envelopes and errors."""
