import socket

import pytest
from django.test import Client
from pytest_django.fixtures import Settings


@pytest.fixture
def closed_port() -> int:
    """A loopback port that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_live_answers_ok_without_credentials(client: Client) -> None:
    response = client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_ready_answers_ok_when_postgres_and_redis_answer(client: Client) -> None:
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"postgres": "ok", "redis": "ok"}}


@pytest.mark.django_db
def test_ready_names_redis_when_it_is_unreachable(
    client: Client, settings: Settings, closed_port: int
) -> None:
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port}/0"
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {"postgres": "ok", "redis": "unavailable"},
    }


@pytest.mark.django_db
@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_ready_names_postgres_when_it_is_unreachable(
    client: Client, settings: Settings, closed_port: int
) -> None:
    default = settings.DATABASES["default"]
    settings.DATABASES = {
        **settings.DATABASES,
        "default": {**default, "HOST": "127.0.0.1", "PORT": closed_port},
    }
    response = client.get("/health/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"] == {"postgres": "unavailable", "redis": "ok"}
    assert str(closed_port) not in response.content.decode()  # no addresses leak


def test_health_refuses_other_verbs(client: Client) -> None:
    assert client.post("/health/live").status_code == 405
