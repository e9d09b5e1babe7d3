"""SLUICEGATE_LDAP_* settings: parsed and checked at startup, turned into django-auth-ldap's."""

from __future__ import annotations

import json
from typing import Any

import ldap
import pytest
from django.core.exceptions import ImproperlyConfigured

from config.environment import LDAP_GROUP_TYPES, load_environment, parse_ldap
from rbac.ldap import GROUP_TYPES, auth_ldap_settings, normal_dn, role_for

BASE_ENV = {
    "SLUICEGATE_LDAP_SERVER_URI": "ldap://ldap.example.org",
    "SLUICEGATE_LDAP_USER_SEARCH_BASE": "ou=people,dc=example,dc=org",
    "SLUICEGATE_LDAP_GROUP_SEARCH_BASE": "ou=groups,dc=example,dc=org",
}


def ldap_env(**values: str) -> dict[str, str]:
    return {**BASE_ENV, **{f"SLUICEGATE_LDAP_{name.upper()}": v for name, v in values.items()}}


def test_ldap_is_off_without_a_server_uri() -> None:
    assert parse_ldap({}) is None
    assert parse_ldap({"SLUICEGATE_LDAP_ROLE_MAP": "not json"}) is None


def test_defaults_are_openldap_users_and_short_timeouts() -> None:
    config = parse_ldap(BASE_ENV)

    assert config is not None
    assert config.user_filter == "(uid=%(user)s)"
    assert config.group_type == "groupOfNames"
    assert (config.connect_timeout, config.network_timeout) == (3.0, 5.0)
    assert (config.start_tls, config.first, config.role_map) == (False, False, ())


def test_the_bind_password_is_never_in_the_settings_repr() -> None:
    config = parse_ldap(ldap_env(bind_dn="cn=reader,dc=example,dc=org", bind_password="s3cret"))

    assert config is not None
    assert config.bind_password == "s3cret"
    assert "s3cret" not in repr(config)


def test_the_role_map_keeps_its_order() -> None:
    mapping = {
        "portal": {
            "cn=b,ou=groups,dc=example,dc=org": "b",
            "cn=a,ou=groups,dc=example,dc=org": "a",
        },
        "crm": {"cn=a,ou=groups,dc=example,dc=org": "viewer"},
    }

    config = parse_ldap(ldap_env(role_map=json.dumps(mapping)))

    assert config is not None
    assert config.role_map == (
        (
            "portal",
            (("cn=b,ou=groups,dc=example,dc=org", "b"), ("cn=a,ou=groups,dc=example,dc=org", "a")),
        ),
        ("crm", (("cn=a,ou=groups,dc=example,dc=org", "viewer"),)),
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"role_map": "{not json"}, "SLUICEGATE_LDAP_ROLE_MAP is not valid JSON"),
        ({"role_map": '["portal"]'}, "must be a JSON object of app names"),
        ({"role_map": '{"portal": "admins"}'}, "app 'portal' must map to a non-empty object"),
        ({"role_map": '{"portal": {}}'}, "app 'portal' must map to a non-empty object"),
        ({"role_map": '{"portal": {"cn=a,dc=x": 3}}'}, "must be a role name"),
        ({"role_map": '{"portal": {"not a dn": "r"}}'}, "is not a valid LDAP DN"),
        ({"server_uri": "http://ldap.example.org"}, "SLUICEGATE_LDAP_SERVER_URI must be"),
        ({"user_search_base": ""}, "SLUICEGATE_LDAP_USER_SEARCH_BASE is required"),
        ({"user_filter": "uid=%(user)s"}, "SLUICEGATE_LDAP_USER_FILTER must be"),
        ({"user_filter": "(uid=admin)"}, "SLUICEGATE_LDAP_USER_FILTER must be"),
        ({"user_filter": "(uid=%(login)s)"}, "SLUICEGATE_LDAP_USER_FILTER must be"),
        ({"group_type": "nis"}, "SLUICEGATE_LDAP_GROUP_TYPE must be one of"),
        ({"start_tls": "maybe"}, "SLUICEGATE_LDAP_START_TLS must be one of"),
        (
            {"server_uri": "ldaps://ldap.example.org", "start_tls": "on"},
            "ldaps:// is already encrypted",
        ),
        ({"connect_timeout": "0"}, "more than 0 seconds"),
        ({"network_timeout": "soon"}, "SLUICEGATE_LDAP_NETWORK_TIMEOUT must be a number"),
        ({"ca_file": "/nonexistent/ca.pem"}, "SLUICEGATE_LDAP_CA_FILE"),
        ({"bind_dn": "reader"}, "SLUICEGATE_LDAP_BIND_DN is not a valid LDAP DN"),
    ],
)
def test_unusable_ldap_settings_stop_startup_with_a_clear_error(
    values: dict[str, str], message: str
) -> None:
    with pytest.raises(ImproperlyConfigured, match=message):
        parse_ldap(ldap_env(**values))


def test_a_role_map_without_a_group_search_base_is_refused() -> None:
    environ = {
        **ldap_env(role_map='{"p": {"cn=a,dc=x": "r"}}'),
        "SLUICEGATE_LDAP_GROUP_SEARCH_BASE": "",
    }

    with pytest.raises(ImproperlyConfigured, match="needs SLUICEGATE_LDAP_GROUP_SEARCH_BASE"):
        parse_ldap(environ)


def test_the_environment_loader_checks_ldap_settings(tmp_path: Any) -> None:
    environ = {
        "SLUICEGATE_ENV": "development",
        "SLUICEGATE_DATA_DIR": str(tmp_path),
        **ldap_env(role_map="{oops"),
    }

    with pytest.raises(ImproperlyConfigured, match="SLUICEGATE_LDAP_ROLE_MAP"):
        load_environment(environ)


def test_active_directory_settings_become_django_auth_ldap_settings() -> None:
    config = parse_ldap(
        ldap_env(
            user_filter="(sAMAccountName=%(user)s)",
            group_type="activedirectory",
            connect_timeout="1.5",
            network_timeout="4",
        )
    )
    assert config is not None

    built = auth_ldap_settings(config)

    assert built["USER_SEARCH"].filterstr == "(sAMAccountName=%(user)s)"
    assert built["USER_SEARCH"].base_dn == "ou=people,dc=example,dc=org"
    assert built["GROUP_SEARCH"].filterstr == "(objectClass=group)"
    assert type(built["GROUP_TYPE"]).__name__ == "ActiveDirectoryGroupType"
    options = built["CONNECTION_OPTIONS"]
    assert options[ldap.OPT_REFERRALS] == 0
    assert (options[ldap.OPT_NETWORK_TIMEOUT], options[ldap.OPT_TIMEOUT]) == (1.5, 4.0)
    assert list(options)[-1] == ldap.OPT_X_TLS_NEWCTX
    assert built["START_TLS"] is False


def test_every_group_type_the_settings_accept_is_known() -> None:
    assert set(GROUP_TYPES) == set(LDAP_GROUP_TYPES)


def test_group_dns_compare_in_any_spelling() -> None:
    pairs = (("CN=Admins, OU=Groups, DC=Example, DC=Org", "admin"),)

    assert role_for({normal_dn("cn=admins,ou=groups,dc=example,dc=org")}, pairs) == "admin"
    assert role_for({normal_dn("cn=other,ou=groups,dc=example,dc=org")}, pairs) is None
