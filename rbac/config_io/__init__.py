"""Configuration as code: services, roles, apps, users' roles, lookups and rate limits as YAML.

One rule: a document never carries a secret. Service passwords, app keys and
private lookup values travel as `{env: VARIABLE}` references that the import
reads from the environment; the export writes such references, never a
password, an encrypted token, a key or a digest.

Natural keys: a service, role, app or rate limit by name, a user's role by
(user, app), a lookup by (key, scope); a limit names its app, role, user and
service by theirs. A field present in the document states its value; a
field left out keeps the stored one (or the model's default on creation).
The rules of a role whose entry lists `rules` are replaced by exactly those
rules. Nothing absent from the document is deleted, and users are never
created. `document` checks a document, `export` writes one, `apply` imports one.
"""

from rbac.config_io.apply import ImportReport, import_config
from rbac.config_io.document import (
    VERSION,
    ConfigError,
    Document,
    document_parse,
    lookup_value_var,
    service_password_var,
)
from rbac.config_io.export import config_document, export_config

__all__ = [
    "VERSION",
    "ConfigError",
    "Document",
    "ImportReport",
    "config_document",
    "document_parse",
    "export_config",
    "import_config",
    "lookup_value_var",
    "service_password_var",
]
