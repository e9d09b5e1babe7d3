"""The Service model: encrypted password, name and settings validation, its ServiceConfig."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from config.crypto import decrypt_secret
from services.connection import ServiceConfig
from services.models import Service, parse_schemas

pytestmark = pytest.mark.django_db

PASSWORD = "pw-Model-Secret-4721"


def make_service(**overrides: Any) -> Service:
    values: dict[str, Any] = {
        "name": "crm",
        "label": "CRM",
        "host": "db.example.internal",
        "database": "crm",
        "username": "api",
    }
    values.update(overrides)
    service = Service(**values)
    service.set_password(PASSWORD)
    return service


def validation_errors(service: Service) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        service.full_clean()
    return caught.value.message_dict


def test_password_is_stored_as_a_fernet_token_not_plaintext() -> None:
    service = make_service()
    service.full_clean()
    service.save()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT password_encrypted FROM services_service WHERE id = %s", [service.pk]
        )
        (raw,) = cursor.fetchone()
    assert raw != PASSWORD
    assert PASSWORD not in raw
    assert decrypt_secret(raw) == PASSWORD
    assert Service.objects.get(pk=service.pk).get_password() == PASSWORD


def test_each_encryption_makes_a_new_token_for_the_same_password() -> None:
    first = make_service()
    second = make_service()
    assert first.password_encrypted != second.password_encrypted
    assert first.get_password() == second.get_password() == PASSWORD


def test_defaults_make_a_valid_service() -> None:
    service = make_service()
    service.full_clean()
    assert service.port == 5432
    assert service.sslmode == "prefer"
    assert service.schemas == "public"
    assert service.max_records == 1000
    assert (service.pool_min_size, service.pool_max_size) == (1, 10)
    assert service.statement_timeout_ms == 30_000
    assert service.active is True


def test_a_service_without_a_password_is_invalid() -> None:
    service = Service(name="crm", label="CRM", host="h", database="d", username="u")
    assert "password_encrypted" in validation_errors(service)


@pytest.mark.parametrize("name", ["user", "system", "hooks", "docs", "api", "_x", "_", "_table"])
def test_reserved_names_are_refused(name: str) -> None:
    errors = validation_errors(make_service(name=name))
    assert any("reserved" in message for message in errors["name"])


@pytest.mark.parametrize(
    "name", ["CRM", "with space", "dot.name", "slash/name", "ünïcode", "", "a" * 65]
)
def test_invalid_names_are_refused(name: str) -> None:
    assert "name" in validation_errors(make_service(name=name))


@pytest.mark.parametrize("name", ["crm", "crm-2", "my_db", "2024", "a" * 64, "users", "apis"])
def test_valid_names_are_accepted(name: str) -> None:
    make_service(name=name).full_clean()


def test_names_are_unique() -> None:
    make_service().save()
    assert "name" in validation_errors(make_service())
    with pytest.raises(IntegrityError), transaction.atomic():
        make_service().save()


@pytest.mark.parametrize(
    "schemas", ["", "public,", "bad name", "1abc", "public;drop", 'x"y', "a,a", "a" * 64]
)
def test_invalid_schema_lists_are_refused(schemas: str) -> None:
    assert "schemas" in validation_errors(make_service(schemas=schemas))


def test_schema_list_is_parsed_in_order() -> None:
    service = make_service(schemas="public, crm ,_private,sales$2")
    service.full_clean()
    assert service.schema_names() == ("public", "crm", "_private", "sales$2")
    assert parse_schemas("public, crm") == ("public", "crm")
    assert make_service(schemas="sales,public").schema_names() == ("sales", "public")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("port", 0),
        ("port", 65536),
        ("max_records", 0),
        ("pool_max_size", 0),
        ("sslmode", "sometimes"),
    ],
)
def test_out_of_range_settings_are_refused(field: str, value: object) -> None:
    assert field in validation_errors(make_service(**{field: value}))


def test_pool_maximum_below_minimum_is_refused() -> None:
    errors = validation_errors(make_service(pool_min_size=5, pool_max_size=4))
    assert "pool_max_size" in errors


def test_pool_maximum_below_minimum_is_refused_by_the_database_too() -> None:
    service = make_service(pool_min_size=5, pool_max_size=4)
    with pytest.raises(IntegrityError), transaction.atomic():
        service.save()


def test_config_carries_every_setting_and_the_decrypted_password() -> None:
    service = make_service(
        port=6543,
        sslmode="require",
        schemas="public,sales",
        max_records=50,
        pool_min_size=0,
        pool_max_size=3,
        statement_timeout_ms=1500,
    )
    service.full_clean()
    service.save()
    config = service.config()
    assert config == ServiceConfig(
        name="crm",
        host="db.example.internal",
        port=6543,
        database="crm",
        user="api",
        password=PASSWORD,
        sslmode="require",
        schemas=("public", "sales"),
        max_records=50,
        pool_min_size=0,
        pool_max_size=3,
        statement_timeout_ms=1500,
        stamp=f"{service.pk}:{service.updated_at.isoformat()}",
    )


def test_config_stamp_changes_when_the_service_is_saved_again() -> None:
    service = make_service()
    service.save()
    before = service.config().stamp
    service.port = 5433
    service.save()
    assert service.config().stamp != before
    assert service.config().stamp.startswith(f"{service.pk}:")


def test_password_never_appears_in_str_repr_or_config_repr() -> None:
    service = make_service()
    service.save()
    assert str(service) == "crm"
    for text in (str(service), repr(service), repr(service.config()), str(service.config())):
        assert PASSWORD not in text
        assert service.password_encrypted not in text


def test_validation_messages_never_contain_the_password() -> None:
    service = make_service(name="_bad", port=0, schemas="x y")
    with pytest.raises(ValidationError) as caught:
        service.full_clean()
    assert PASSWORD not in str(caught.value)
    assert service.password_encrypted not in str(caught.value)
