"""Event scripts: admin-written Python run around API calls, in an isolated sandbox."""
