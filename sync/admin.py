"""Django admin registrations for `sync`."""
