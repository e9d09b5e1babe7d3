"""Django admin registrations for `rbac`."""
