"""Django admin registrations for `services`."""
