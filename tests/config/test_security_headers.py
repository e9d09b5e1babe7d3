"""Production security settings: HSTS, secure cookies, `check --deploy`, no server or version leaks."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from config.environment import BASE_DIR, load_environment

SETTINGS_PROBE = (
    "import json, django; django.setup(); from django.conf import settings as s;"
    "print(json.dumps({name: getattr(s, name) for name in %r}))"
)
SECURITY_SETTINGS = (
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_SECURE",
    "SESSION_COOKIE_HTTPONLY",
    "SESSION_COOKIE_SAMESITE",
    "CSRF_COOKIE_SECURE",
    "CSRF_COOKIE_HTTPONLY",
    "CSRF_COOKIE_SAMESITE",
    "DEBUG",
)


def production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a production process using this run's PostgreSQL and Redis."""
    return {
        "PATH": os.environ["PATH"],
        "SLUICEGATE_ENV": "production",
        "SLUICEGATE_DATA_DIR": str(tmp_path),
        "SECRET_KEY": "k" * 20 + "-production-test-secret-key-0123456789",
        "SLUICEGATE_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "DATABASE_URL": os.environ.get("DATABASE_URL", ""),
        "REDIS_URL": os.environ.get("REDIS_URL", ""),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        **extra,
    }


def settings_of(env: dict[str, str]) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", SETTINGS_PROBE % (SECURITY_SETTINGS,)],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    values: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return values


def test_production_settings_send_hsts_and_secure_httponly_samesite_cookies(
    tmp_path: Path,
) -> None:
    assert settings_of(production_env(tmp_path)) == {
        "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": True,
        "SECURE_SSL_REDIRECT": False,
        "SESSION_COOKIE_SECURE": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "CSRF_COOKIE_SECURE": True,
        "CSRF_COOKIE_HTTPONLY": True,
        "CSRF_COOKIE_SAMESITE": "Lax",
        "DEBUG": False,
    }


def test_hsts_and_ssl_redirect_come_from_the_environment(tmp_path: Path) -> None:
    values = settings_of(
        production_env(
            tmp_path,
            SLUICEGATE_HSTS_SECONDS="600",
            SLUICEGATE_HSTS_INCLUDE_SUBDOMAINS="false",
            SLUICEGATE_HSTS_PRELOAD="no",
            SLUICEGATE_SSL_REDIRECT="true",
        )
    )
    assert values["SECURE_HSTS_SECONDS"] == 600
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is False
    assert values["SECURE_HSTS_PRELOAD"] is False
    assert values["SECURE_SSL_REDIRECT"] is True


def test_development_has_no_hsts_and_plain_http_cookies(tmp_path: Path) -> None:
    env = load_environment({"SLUICEGATE_ENV": "development", "SLUICEGATE_DATA_DIR": str(tmp_path)})
    assert env.hsts_seconds == 0
    assert not env.is_production  # settings make cookies HTTPS-only in production only
    assert env.ssl_redirect is None


@pytest.mark.parametrize("raw", ["-1", "a year", "1.5"])
def test_a_bad_hsts_value_is_refused(tmp_path: Path, raw: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="SLUICEGATE_HSTS_SECONDS"):
        load_environment(
            {
                "SLUICEGATE_ENV": "development",
                "SLUICEGATE_DATA_DIR": str(tmp_path),
                "SLUICEGATE_HSTS_SECONDS": raw,
            }
        )


def test_production_refuses_debug(tmp_path: Path) -> None:
    with pytest.raises(ImproperlyConfigured, match="DEBUG is refused in production"):
        load_environment(
            {
                "SECRET_KEY": "x" * 50,
                "SLUICEGATE_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
                "SLUICEGATE_DATA_DIR": str(tmp_path),
                "DEBUG": "true",
            }
        )


def test_check_deploy_finds_no_security_issue_in_production(tmp_path: Path) -> None:
    env = production_env(tmp_path, SLUICEGATE_SSL_REDIRECT="false")
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert "ERRORS" not in output
    assert "security." not in output  # no warning of Django's security checks
    assert "corsheaders." not in output


def test_check_deploy_reminds_of_https_redirects_until_decided(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=BASE_DIR,
        env=production_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "security.W008" in result.stdout + result.stderr


# --- a real gunicorn in production mode -------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def production_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """gunicorn with the platform's own config, serving production settings."""
    port = free_port()
    env = production_env(
        tmp_path_factory.mktemp("data"),
        BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY="1",
        WEB_THREADS="2",
    )
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "platform/gunicorn.conf.py",
            "config.wsgi:application",
        ],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{url}/health/live", timeout=1)
                break
            except httpx.TransportError:
                assert server.poll() is None, "gunicorn exited"
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.slow
def test_gunicorn_names_no_server_or_version(production_server: str) -> None:
    response = httpx.get(f"{production_server}/health/live", timeout=5)
    assert response.status_code == 200
    assert response.headers.get_list("server") == ["Sluicegate"]
    assert "gunicorn" not in str(response.headers).lower()


@pytest.mark.slow
def test_https_responses_carry_hsts_and_http_ones_do_not(production_server: str) -> None:
    secure = httpx.get(
        f"{production_server}/health/live", headers={"X-Forwarded-Proto": "https"}, timeout=5
    )
    assert secure.headers["strict-transport-security"] == (
        "max-age=31536000; includeSubDomains; preload"
    )
    assert secure.headers["x-content-type-options"] == "nosniff"
    plain = httpx.get(f"{production_server}/health/live", timeout=5)
    assert "strict-transport-security" not in plain.headers


@pytest.mark.slow
def test_error_pages_show_no_versions(production_server: str) -> None:
    for path in ("/no-such-page", "/admin/no-such-page/", "/api/v2/nope/_table/x"):
        response = httpx.get(f"{production_server}{path}", timeout=5)
        assert response.status_code in (302, 401, 404)
        text = response.text.lower()
        assert "django" not in text
        assert "python" not in text
        assert "gunicorn" not in text
        assert "traceback" not in text
