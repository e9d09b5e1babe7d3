"""LDAP / Active Directory logins through django-auth-ldap, and the app roles they bring.

One rule: the directory decides who a user is and which groups they are in;
on every directory login the user's roles in the mapped apps are made to
match `SLUICEGATE_LDAP_ROLE_MAP` (the first matching group wins, no group:
no role), and nothing else about access changes. django-auth-ldap's own
settings are built here from `settings.SLUICEGATE_LDAP` (see
`config.environment.LdapSettings`) when a backend is made, so they always
follow the current configuration. A directory that cannot answer raises
`DirectoryUnavailable`, never a failed login.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import ldap
import ldap.dn
from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.dispatch import receiver
from django.http import HttpRequest
from django_auth_ldap.backend import LDAPBackend, ldap_error
from django_auth_ldap.config import (
    ActiveDirectoryGroupType,
    GroupOfNamesType,
    GroupOfUniqueNamesType,
    LDAPSearch,
    NestedActiveDirectoryGroupType,
    NestedGroupOfNamesType,
    PosixGroupType,
)

from config.environment import LdapSettings
from rbac.models import App, Role, UserAppRole

LDAP_SERVICE = "ldap"
UNAVAILABLE = "The directory server cannot be reached right now; try again shortly."

# Django user field ← LDAP attribute (the same names in OpenLDAP and Active Directory).
USER_ATTRIBUTES = {"first_name": "givenName", "last_name": "sn", "email": "mail"}
# auth.User's column lengths: longer directory values are cut, never a database error.
FIELD_LENGTHS = {"username": 150, "first_name": 150, "last_name": 150, "email": 254}

# Group type name (SLUICEGATE_LDAP_GROUP_TYPE) → django-auth-ldap group type, group filter.
GROUP_TYPES: dict[str, tuple[Callable[[], Any], str]] = {
    "groupOfNames": (GroupOfNamesType, "(objectClass=groupOfNames)"),
    "nestedGroupOfNames": (NestedGroupOfNamesType, "(objectClass=groupOfNames)"),
    "groupOfUniqueNames": (GroupOfUniqueNamesType, "(objectClass=groupOfUniqueNames)"),
    "posixGroup": (PosixGroupType, "(objectClass=posixGroup)"),
    "activeDirectory": (ActiveDirectoryGroupType, "(objectClass=group)"),
    "nestedActiveDirectory": (NestedActiveDirectoryGroupType, "(objectClass=group)"),
}

logger = logging.getLogger(__name__)


class DirectoryUnavailable(Exception):
    """The directory could not answer (down, too slow, TLS refused, misconfigured).

    `str(error)` is safe to show the client: it names no server.
    """

    def __init__(self) -> None:
        super().__init__(UNAVAILABLE)


def directory_config() -> LdapSettings | None:
    """Return the LDAP login settings, or None when LDAP logins are off."""
    config = getattr(settings, "SLUICEGATE_LDAP", None)
    return config if isinstance(config, LdapSettings) else None


def ldap_enabled() -> bool:
    return directory_config() is not None


def ldap_first() -> bool:
    """Return whether every login tries the directory before local accounts."""
    config = directory_config()
    return config is not None and config.first


def auth_ldap_settings(config: LdapSettings) -> dict[str, Any]:
    """Return django-auth-ldap's settings (names without `AUTH_LDAP_`) for `config`."""
    options: dict[int, Any] = {
        # Active Directory answers searches with referrals libldap cannot follow.
        ldap.OPT_REFERRALS: 0,
        ldap.OPT_NETWORK_TIMEOUT: config.connect_timeout,
        ldap.OPT_TIMEOUT: config.network_timeout,
        ldap.OPT_X_TLS_REQUIRE_CERT: ldap.OPT_X_TLS_DEMAND,
    }
    if config.ca_file:
        options[ldap.OPT_X_TLS_CACERTFILE] = config.ca_file
    # Last: makes the TLS options above take effect on this connection.
    options[ldap.OPT_X_TLS_NEWCTX] = 0
    group_type, group_filter = GROUP_TYPES[config.group_type]
    return {
        "SERVER_URI": config.server_uri,
        "BIND_DN": config.bind_dn,
        "BIND_PASSWORD": config.bind_password,
        "USER_SEARCH": LDAPSearch(config.user_search_base, ldap.SCOPE_SUBTREE, config.user_filter),
        "GROUP_SEARCH": (
            LDAPSearch(config.group_search_base, ldap.SCOPE_SUBTREE, group_filter)
            if config.group_search_base
            else None
        ),
        "GROUP_TYPE": group_type(),
        "START_TLS": config.start_tls,
        "CONNECTION_OPTIONS": options,
        # Names and email are copied by `DirectoryBackend`, which saves the user
        # only when one changed: every user save reloads the access configuration.
        "USER_ATTR_MAP": {},
        "ALWAYS_UPDATE_USER": False,
        "CACHE_TIMEOUT": 0,
    }


def normal_dn(dn: str) -> str:
    """Return `dn` in one spelling (no spaces around separators, lower case) for comparing."""
    try:
        return str(ldap.dn.dn2str(ldap.dn.str2dn(dn))).lower()
    except Exception:  # a DN the server sent that python-ldap cannot parse
        return dn.strip().lower()


class DirectoryBackend(LDAPBackend):  # type: ignore[misc]  # django-auth-ldap is untyped
    """django-auth-ldap's backend, configured by `SLUICEGATE_LDAP`; does nothing while LDAP is off.

    It never takes over a local account: a Django user of the same name who
    has a usable password stays local.
    """

    @property
    def default_settings(self) -> dict[str, Any]:
        config = directory_config()
        return auth_ldap_settings(config) if config is not None else {}

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        """Django's entry point (the admin's login): an unreachable directory is a failed login."""
        try:
            return self.authenticate_or_raise(request, username=username, password=password)
        except DirectoryUnavailable:
            return None

    def authenticate_or_raise(
        self, request: HttpRequest | None, *, username: str | None, password: str | None
    ) -> User | None:
        """Return the directory's user for these credentials, or None.

        Raises DirectoryUnavailable when the directory cannot answer.
        """
        if (
            directory_config() is None
            or not username
            or len(username.strip()) > FIELD_LENGTHS["username"]
        ):
            return None
        user = super().authenticate(request, username=username, password=password)
        return user if isinstance(user, User) else None

    def authenticate_ldap_user(self, ldap_user: Any, password: str) -> User | None:
        user = super().authenticate_ldap_user(ldap_user, password)
        config = directory_config()
        if not isinstance(user, User) or config is None or not user.is_active:
            return None
        try:
            attributes = ldap_user.attrs or {}
            groups = (
                {normal_dn(dn) for dn in ldap_user.group_dns}
                if config.role_map and config.group_search_base
                else set()
            )
        except ldap.LDAPError:
            logger.warning("the directory failed while reading a user's groups", exc_info=True)
            raise DirectoryUnavailable from None
        update_user_fields(user, attributes)
        sync_app_roles(user, groups=groups, role_map=config.role_map)
        return user

    def get_or_build_user(self, username: str, ldap_user: Any) -> tuple[User, bool]:
        user, built = super().get_or_build_user(username, ldap_user)
        if not built and user.has_usable_password():
            raise ldap_user.AuthenticationFailed("a local account has this username")
        return user, built


@receiver(ldap_error, sender=DirectoryBackend, dispatch_uid="sluicegate-directory-error")
def directory_error(sender: Any, *, context: str, exception: Exception, **kwargs: Any) -> None:
    """Turn any directory error django-auth-ldap reports into DirectoryUnavailable.

    django-auth-ldap passes on what this raises; a wrong password is not
    reported here, so it stays a failed login.
    """
    raise DirectoryUnavailable from None


def update_user_fields(user: User, attributes: Any) -> None:
    """Copy names and email from the user's LDAP attributes; save only what changed."""
    changed: list[str] = []
    for field, attribute in USER_ATTRIBUTES.items():
        values = attributes.get(attribute)
        if not values:
            continue  # not given by the directory: keep what Django has
        value = str(values[0]).strip()[: FIELD_LENGTHS[field]]
        if getattr(user, field) != value:
            setattr(user, field, value)
            changed.append(field)
    if changed:
        user.save(update_fields=changed)


def role_for(groups: Iterable[str], pairs: Iterable[tuple[str, str]]) -> str | None:
    """Return the role name of the first (group DN, role) pair whose group is in `groups`."""
    member_of = set(groups)
    return next((role for dn, role in pairs if normal_dn(dn) in member_of), None)


def sync_app_roles(
    user: User,
    *,
    groups: set[str],
    role_map: tuple[tuple[str, tuple[tuple[str, str], ...]], ...],
) -> None:
    """Make the user's roles in the mapped apps match their groups (normalised DNs).

    Per mapped app: the role of the first matching group, or no role (the
    row is removed) when no group matches or the role does not exist. Apps
    the mapping does not name are left alone. Rows are written only when
    they change, so a login that changes nothing reloads nothing.
    """
    if not role_map:
        return
    apps = {app.name: app for app in App.objects.filter(name__in=[name for name, _ in role_map])}
    wanted_roles = {role_for(groups, pairs) for _, pairs in role_map} - {None}
    roles = {role.name: role for role in Role.objects.filter(name__in=wanted_roles)}
    with transaction.atomic():
        current = {
            row.app_id: row
            for row in UserAppRole.objects.select_for_update().filter(
                user=user, app__in=apps.values()
            )
        }
        for app_name, pairs in role_map:
            app = apps.get(app_name)
            if app is None:
                logger.warning(
                    "SLUICEGATE_LDAP_ROLE_MAP names app %r, which does not exist", app_name
                )
                continue
            role_name = role_for(groups, pairs)
            role = roles.get(role_name) if role_name is not None else None
            if role_name is not None and role is None:
                logger.warning(
                    "SLUICEGATE_LDAP_ROLE_MAP names role %r, which does not exist", role_name
                )
            row = current.get(app.pk)
            if role is None:
                if row is not None:
                    row.delete()
            elif row is None:
                # Two first logins at once: the loser updates the winner's row.
                UserAppRole.objects.update_or_create(user=user, app=app, defaults={"role": role})
            elif row.role_id != role.pk:
                row.role = role
                row.save(update_fields=["role"])


def directory_user(request: HttpRequest, *, login: str, password: str) -> User | None:
    """Return the user the directory authenticates with `login` and `password`, or None.

    Raises DirectoryUnavailable when the directory cannot answer.
    """
    return DirectoryBackend().authenticate_or_raise(request, username=login, password=password)
