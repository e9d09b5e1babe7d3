import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from config.embedded import socket_url
from config.environment import BASE_DIR, database_config, load_environment


def test_production_without_secret_key_refuses_to_load(tmp_path: Path) -> None:
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY is not set"):
        load_environment({"SLUICEGATE_DATA_DIR": str(tmp_path)})


def test_production_without_secret_key_fails_manage_py_loudly(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "SLUICEGATE_ENV": "production",
        "SLUICEGATE_DATA_DIR": str(tmp_path),
        "SLUICEGATE_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr
    assert not (tmp_path / "secret_key").exists()


def test_production_without_encryption_keys_refuses_to_load(tmp_path: Path) -> None:
    with pytest.raises(ImproperlyConfigured, match="SLUICEGATE_ENCRYPTION_KEYS is not set"):
        load_environment({"SECRET_KEY": "x" * 50, "SLUICEGATE_DATA_DIR": str(tmp_path)})


def test_development_generates_secrets_once_in_the_data_dir(tmp_path: Path) -> None:
    environ = {"SLUICEGATE_ENV": "development", "SLUICEGATE_DATA_DIR": str(tmp_path)}
    first = load_environment(environ)
    second = load_environment(environ)
    assert first.secret_key == second.secret_key
    assert len(first.secret_key) >= 50
    assert first.encryption_keys == second.encryption_keys
    Fernet(first.encryption_keys[0].encode())  # a usable key
    for name in ("secret_key", "encryption_key"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600


def test_debug_is_off_unless_asked_for(tmp_path: Path) -> None:
    base = {"SLUICEGATE_ENV": "development", "SLUICEGATE_DATA_DIR": str(tmp_path)}
    assert load_environment(base).debug is False
    assert load_environment({**base, "DEBUG": "true"}).debug is True
    with pytest.raises(ImproperlyConfigured, match="DEBUG must be one of"):
        load_environment({**base, "DEBUG": "maybe"})


def test_invalid_encryption_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ImproperlyConfigured, match="item 2 is not a valid Fernet key"):
        load_environment(
            {
                "SECRET_KEY": "x" * 50,
                "SLUICEGATE_DATA_DIR": str(tmp_path),
                "SLUICEGATE_ENCRYPTION_KEYS": f"{Fernet.generate_key().decode()}, not-a-key",
            }
        )


def test_allowed_hosts_and_log_settings_are_parsed(tmp_path: Path) -> None:
    env = load_environment(
        {
            "SLUICEGATE_ENV": "development",
            "SLUICEGATE_DATA_DIR": str(tmp_path),
            "ALLOWED_HOSTS": "api.example.com, .internal ,",
            "SLUICEGATE_LOG_LEVEL": "debug",
            "SLUICEGATE_LOG_FORMAT": "JSON",
        }
    )
    assert env.allowed_hosts == ("api.example.com", ".internal")
    assert env.log_level == "DEBUG"
    assert env.log_format == "json"


def test_database_url_with_credentials_host_port_and_options() -> None:
    config = database_config("postgres://app:p%40ss%2Fword@db.example.com:6543/crm?sslmode=require")
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["NAME"], config["USER"], config["PASSWORD"]) == ("crm", "app", "p@ss/word")
    assert (config["HOST"], config["PORT"]) == ("db.example.com", 6543)
    assert config["OPTIONS"] == {"sslmode": "require"}
    assert config["CONN_HEALTH_CHECKS"] is True


def test_database_url_with_a_socket_directory_as_host() -> None:
    config = database_config(socket_url("postgres", Path("/srv/data/postgres"), "platform"))
    assert (config["HOST"], config["NAME"], config["USER"]) == (
        "/srv/data/postgres",
        "platform",
        "postgres",
    )


def test_database_url_of_another_engine_is_refused() -> None:
    with pytest.raises(ImproperlyConfigured, match="postgres://"):
        database_config("sqlite:///db.sqlite3")


def test_check_intervals_are_read_in_seconds(tmp_path: Path) -> None:
    base = {"SLUICEGATE_ENV": "development", "SLUICEGATE_DATA_DIR": str(tmp_path)}
    defaults = load_environment(base)
    assert (defaults.schema_check_seconds, defaults.rbac_check_seconds) == (5.0, 1.0)
    env = load_environment(
        {**base, "SLUICEGATE_SCHEMA_CHECK_SECONDS": "0.5", "SLUICEGATE_RBAC_CHECK_SECONDS": "0"}
    )
    assert (env.schema_check_seconds, env.rbac_check_seconds) == (0.5, 0.0)
    with pytest.raises(ImproperlyConfigured, match="SLUICEGATE_RBAC_CHECK_SECONDS must be 0"):
        load_environment({**base, "SLUICEGATE_RBAC_CHECK_SECONDS": "-1"})
    with pytest.raises(ImproperlyConfigured, match="number of seconds"):
        load_environment({**base, "SLUICEGATE_SCHEMA_CHECK_SECONDS": "soon"})
