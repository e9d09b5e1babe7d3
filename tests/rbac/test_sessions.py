"""Session tokens at /api/v2/user/session: login, read, refresh, logout, throttling."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, RequestFactory

from config.environment import load_environment
from rbac import sessions, throttle
from rbac.keys import set_app_key
from rbac.models import App, Role, UserAppRole
from rbac.state import forget_state

pytestmark = pytest.mark.django_db

URL = "/api/v2/user/session"
PASSWORD = "correct horse battery staple"
LIFETIME = 600
REFRESH_WINDOW = 3600
SESSION_KEYS = {
    "session_token",
    "session_id",
    "id",
    "name",
    "first_name",
    "last_name",
    "email",
    "is_sys_admin",
    "role",
    "role_id",
    "token_expiry_date",
    "last_login_date",
    "host",
}


class Clock:
    """Stands in for `rbac.sessions.now`: time moves only when a test moves it."""

    def __init__(self) -> None:
        self.moment = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)


@pytest.fixture(autouse=True)
def _session_settings(settings: Any) -> Iterator[None]:
    """Small lifetimes; a per-IP limit no parallel test can reach (the IP test lowers it)."""
    # Logins hash passwords; the production hasher's cost is not under test here.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.SLUICEGATE_SESSION_LIFETIME = LIFETIME
    settings.SLUICEGATE_SESSION_REFRESH_WINDOW = REFRESH_WINDOW
    settings.SLUICEGATE_LOGIN_MAX_FAILURES_PER_ACCOUNT = 3
    settings.SLUICEGATE_LOGIN_MAX_FAILURES_PER_IP = 100_000
    settings.SLUICEGATE_LOGIN_FAILURE_WINDOW = 900
    throttle.clear_ip_failures("127.0.0.1")
    forget_state()
    yield
    forget_state()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(sessions, "now", clock)
    return clock


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def make_user(django_user_model: Any) -> Any:
    def make(**fields: Any) -> Any:
        username = unique("user")
        fields.setdefault("email", f"{username}@example.com")
        superuser = fields.pop("superuser", False)
        create = (
            django_user_model.objects.create_superuser
            if superuser
            else django_user_model.objects.create_user
        )
        return create(username=username, password=PASSWORD, **fields)

    return make


@pytest.fixture
def user(make_user: Any) -> Any:
    return make_user(first_name="Ada", last_name="Lovelace")


def log_in(client: Client, headers: dict[str, str] | None = None, **body: Any) -> Any:
    return client.post(URL, body, content_type="application/json", headers=headers or {})


def token_of(client: Client, user: Any) -> str:
    response = log_in(client, email=user.email, password=PASSWORD)
    assert response.status_code == 200, response.content
    return str(response.json()["session_token"])


def with_token(token: str) -> dict[str, str]:
    return {"X-DreamFactory-Session-Token": token}


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def claims_payload(user_id: int, **overrides: Any) -> dict[str, Any]:
    moment = int(datetime.now(UTC).timestamp())
    payload = {
        "iss": sessions.ISSUER,
        "aud": sessions.AUDIENCE,
        "sub": str(user_id),
        "jti": uuid.uuid4().hex,
        "iat": moment,
        "exp": moment + LIFETIME,
        "ruv": moment + REFRESH_WINDOW,
        "app": None,
    }
    payload.update(overrides)
    return payload


def assert_refused(client: Client, token: str, message: str = "Invalid session token.") -> None:
    response = client.get(URL, headers=with_token(token))
    assert response.status_code == 401
    assert response.json()["error"] == {
        "code": 401,
        "message": message,
        "status_code": 401,
        "context": None,
        "request_id": response["X-Request-Id"],
    }


# Logging in


def test_login_by_email_answers_the_session_object(client: Client, user: Any) -> None:
    response = log_in(client, email=user.email.upper(), password=PASSWORD)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == SESSION_KEYS
    assert body["session_token"] == body["session_id"]
    assert body["session_token"].count(".") == 2
    assert body["id"] == user.pk
    assert body["name"] == "Ada Lovelace"
    assert (body["first_name"], body["last_name"]) == ("Ada", "Lovelace")
    assert body["email"] == user.email
    assert body["is_sys_admin"] is False
    assert body["role"] is None
    assert body["role_id"] is None
    assert body["host"] == "testserver"
    expiry = datetime.fromisoformat(body["token_expiry_date"])
    assert expiry.utcoffset() == timedelta(0)
    assert (
        timedelta(seconds=LIFETIME - 5) < expiry - datetime.now(UTC) <= timedelta(seconds=LIFETIME)
    )
    assert body["last_login_date"] is not None


def test_login_by_username_names_a_user_without_a_full_name(client: Client, make_user: Any) -> None:
    user = make_user()
    response = log_in(client, username=user.username, password=PASSWORD)
    assert response.status_code == 200
    assert response.json()["name"] == user.username
    assert response.json()["id"] == user.pk


def test_superuser_session_has_no_role(client: Client, make_user: Any) -> None:
    admin = make_user(superuser=True)
    body = log_in(client, email=admin.email, password=PASSWORD).json()
    assert body["is_sys_admin"] is True
    assert body["role"] is None
    assert body["role_id"] is None


def test_login_through_an_app_gives_the_users_role_else_the_default_role(
    client: Client, make_user: Any
) -> None:
    default_role = Role.objects.create(name=unique("default"))
    own_role = Role.objects.create(name=unique("own"))
    app = App.objects.create(name=unique("app"), default_role=default_role)
    key = set_app_key(app)
    plain, special = make_user(), make_user()
    UserAppRole.objects.create(user=special, app=app, role=own_role)

    body = log_in(client, {"X-DreamFactory-API-Key": key}, email=plain.email, password=PASSWORD)
    assert (body.json()["role"], body.json()["role_id"]) == (default_role.name, default_role.pk)
    body = log_in(client, {"X-API-Key": key}, username=special.username, password=PASSWORD)
    assert (body.json()["role"], body.json()["role_id"]) == (own_role.name, own_role.pk)
    claims = sessions.verify_session_token(body.json()["session_token"])
    assert claims.app_id == app.pk


def test_login_with_a_wrong_api_key_is_refused(client: Client, user: Any) -> None:
    response = log_in(client, {"X-API-Key": "sg_" + "x" * 43}, email=user.email, password=PASSWORD)
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Invalid API key."


def test_wrong_password_and_unknown_user_get_the_same_answer(client: Client, user: Any) -> None:
    same_id = {"X-Request-Id": "log-in"}
    wrong_password = log_in(client, same_id, email=user.email, password="not it")
    unknown_user = log_in(client, same_id, email=f"nobody-{user.email}", password="not it")
    unknown_name = log_in(client, same_id, username=f"nobody-{user.username}", password="not it")
    assert wrong_password.status_code == unknown_user.status_code == unknown_name.status_code == 401
    assert wrong_password.json() == unknown_user.json() == unknown_name.json()
    assert wrong_password.json()["error"]["message"] == "Invalid credentials supplied."


def test_inactive_user_gets_the_wrong_password_answer(client: Client, make_user: Any) -> None:
    inactive = make_user(is_active=False)
    response = log_in(client, email=inactive.email, password=PASSWORD)
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Invalid credentials supplied."


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"email": "someone@example.com"},
        {"password": PASSWORD},
        {"email": "", "password": PASSWORD},
        {"email": ["a@example.com"], "password": PASSWORD},
        {"username": "someone", "password": 12345},
    ],
)
def test_login_without_usable_credentials_is_a_bad_request(
    client: Client, body: dict[str, Any]
) -> None:
    response = log_in(client, **body)
    assert response.status_code == 400
    assert response.json()["error"]["status_code"] == 400


def test_login_body_that_is_not_an_object_is_a_bad_request(client: Client) -> None:
    response = client.post(URL, "[1, 2]", content_type="application/json")
    assert response.status_code == 400


# Reading, refreshing, logging out


def test_get_answers_the_session_of_the_token_without_a_new_one(client: Client, user: Any) -> None:
    token = token_of(client, user)
    response = client.get(URL, headers=with_token(token))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == SESSION_KEYS
    assert body["session_token"] == token
    assert body["id"] == user.pk


def test_token_is_read_from_bearer_header_and_query(client: Client, user: Any) -> None:
    token = token_of(client, user)
    bearer = client.get(URL, headers={"Authorization": f"Bearer {token}"})
    assert bearer.status_code == 200
    query = client.get(URL, {"session_token": token})
    assert query.status_code == 200


def test_get_without_a_token_is_unauthorised(client: Client) -> None:
    response = client.get(URL)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == 401


def test_session_token_from_takes_only_jwt_shaped_bearer_tokens() -> None:
    factory = RequestFactory()
    assert sessions.session_token_from(factory.get("/", HTTP_AUTHORIZATION="Bearer a.b.c")) == (
        "a.b.c"
    )
    assert sessions.session_token_from(factory.get("/", HTTP_AUTHORIZATION="Bearer opaque")) is None
    assert sessions.session_token_from(factory.get("/", HTTP_AUTHORIZATION="Basic a.b.c")) is None
    header_first = factory.get(
        "/?session_token=q.q.q",
        HTTP_X_DREAMFACTORY_SESSION_TOKEN="h.h.h",
        HTTP_AUTHORIZATION="Bearer b.b.b",
    )
    assert sessions.session_token_from(header_first) == "h.h.h"
    assert sessions.session_token_from(factory.get("/?session_token=q.q.q")) == "q.q.q"
    assert sessions.session_token_from(factory.get("/")) is None


def test_put_gives_a_new_token_and_revokes_the_old_one(client: Client, user: Any) -> None:
    old = token_of(client, user)
    response = client.put(URL, headers=with_token(old))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == SESSION_KEYS
    new = body["session_token"]
    assert new != old
    assert client.get(URL, headers=with_token(new)).status_code == 200
    assert_refused(client, old, "Session token has been revoked.")
    assert client.put(URL, headers=with_token(old)).status_code == 401


def test_delete_logs_out_everywhere(client: Client, make_user: Any) -> None:
    admin = make_user(superuser=True)
    token = token_of(client, admin)
    response = client.delete(URL, headers=with_token(token))
    assert response.status_code == 200
    assert response.json() == {"success": True}
    assert_refused(client, token, "Session token has been revoked.")
    assert client.put(URL, headers=with_token(token)).status_code == 401
    assert client.get("/api/v2", headers=with_token(token)).status_code == 401
    assert client.delete(URL, headers=with_token(token)).status_code == 401


def test_an_unreachable_session_store_is_503_on_every_verb(
    client: Client, user: Any, settings: Any
) -> None:
    """Revocations live in Redis: without it a session is neither trusted nor changed (503)."""
    token = token_of(client, user)
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
        }
    }
    for verb in (client.get, client.put, client.delete):
        response = verb(URL, headers=with_token(token))
        assert response.status_code == 503, (verb, response.content)
        assert response.json()["error"]["message"].startswith("Sessions cannot be")
    response = log_in(client, email=user.email, password=PASSWORD)
    assert response.status_code == 503
    assert response.json()["error"]["message"] == (
        "Logins cannot be checked right now; retry shortly."
    )


def test_token_of_a_user_deactivated_since_login_is_refused(client: Client, user: Any) -> None:
    token = token_of(client, user)
    user.is_active = False
    user.save()
    assert_refused(client, token)
    assert client.put(URL, headers=with_token(token)).status_code == 401


# Expiry and the refresh window


def test_expired_token_is_refused_but_refreshable_within_the_window(
    client: Client, user: Any, clock: Clock
) -> None:
    token = token_of(client, user)
    clock.advance(LIFETIME - 1)
    assert client.get(URL, headers=with_token(token)).status_code == 200
    clock.advance(1)
    assert_refused(client, token, "Session token has expired.")

    response = client.put(URL, headers=with_token(token))
    assert response.status_code == 200
    new = response.json()["session_token"]
    assert client.get(URL, headers=with_token(new)).status_code == 200
    expiry = datetime.fromisoformat(response.json()["token_expiry_date"])
    assert expiry == clock.moment.replace(microsecond=0) + timedelta(seconds=LIFETIME)


def test_refresh_keeps_the_window_of_the_login(client: Client, user: Any, clock: Clock) -> None:
    first = token_of(client, user)
    window_end = sessions.verify_session_token(first).refresh_until
    clock.advance(REFRESH_WINDOW - LIFETIME - 10)
    second = client.put(URL, headers=with_token(first)).json()["session_token"]
    claims = sessions.verify_session_token(second)
    assert claims.refresh_until == window_end
    clock.advance(LIFETIME - 5)
    # Capped at the end of the window rather than a full lifetime away.
    third = client.put(URL, headers=with_token(second)).json()["session_token"]
    assert sessions.verify_session_token(third).expires_at == window_end


def test_expired_token_outside_the_refresh_window_cannot_be_refreshed(
    client: Client, user: Any, clock: Clock
) -> None:
    token = token_of(client, user)
    clock.advance(REFRESH_WINDOW)
    response = client.put(URL, headers=with_token(token))
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Session token has expired."
    with pytest.raises(sessions.SessionError):
        sessions.verify_session_token(token, allow_expired=True)


def test_refresh_session_refuses_a_second_refresh_of_one_token(user: Any) -> None:
    token, _claims = sessions.issue_session(user_id=user.pk, app_id=None)
    sessions.refresh_session(token)
    with pytest.raises(sessions.SessionError, match="revoked"):
        sessions.refresh_session(token)


def test_revoked_token_is_refused_by_verification(user: Any) -> None:
    token, claims = sessions.issue_session(user_id=user.pk, app_id=None)
    assert sessions.verify_session_token(token) == claims
    sessions.revoke_session(claims)
    with pytest.raises(sessions.SessionError, match="revoked"):
        sessions.verify_session_token(token)
    with pytest.raises(sessions.SessionError, match="revoked"):
        sessions.verify_session_token(token, allow_expired=True)


# Forged tokens


def test_tampered_token_is_refused(client: Client, user: Any, make_user: Any) -> None:
    token = token_of(client, user)
    header, payload, signature = token.split(".")
    other = make_user()
    forged_payload = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged_payload["sub"] = str(other.pk)
    assert_refused(client, f"{header}.{b64(forged_payload)}.{signature}")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    assert_refused(client, f"{header}.{payload}.{flipped}")
    assert_refused(client, "not-a-token")


def test_unsigned_alg_none_token_is_refused(client: Client, user: Any) -> None:
    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims_payload(user.pk))}."
    assert_refused(client, unsigned)
    with pytest.raises(sessions.SessionError):
        sessions.verify_session_token(unsigned)


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_token_signed_with_another_key_or_algorithm_is_refused(client: Client, user: Any) -> None:
    payload = claims_payload(user.pk)
    assert (
        client.get(
            URL, headers=with_token(jwt.encode(payload, sessions.signing_key(), algorithm="HS256"))
        ).status_code
        == 200
    )
    assert_refused(client, jwt.encode(payload, b"k" * 32, algorithm="HS256"))
    assert_refused(client, jwt.encode(payload, sessions.signing_key(), algorithm="HS512"))
    from django.conf import settings

    assert_refused(client, jwt.encode(payload, settings.SECRET_KEY, algorithm="HS256"))


def test_token_missing_a_claim_is_refused(client: Client, user: Any) -> None:
    for claim in ("sub", "jti", "exp", "ruv", "iss", "aud", "app"):
        payload = claims_payload(user.pk)
        del payload[claim]
        assert_refused(client, jwt.encode(payload, sessions.signing_key(), algorithm="HS256"))
    wrong_audience = claims_payload(user.pk, aud="someone-else")
    assert_refused(client, jwt.encode(wrong_audience, sessions.signing_key(), algorithm="HS256"))


# Throttling


def test_account_is_throttled_after_too_many_failures(client: Client, user: Any) -> None:
    for _attempt in range(3):
        assert log_in(client, email=user.email, password="wrong").status_code == 401
    response = log_in(client, email=user.email.upper(), password=PASSWORD)
    assert response.status_code == 429
    assert response.json()["error"] == {
        "code": 429,
        "message": "Too many failed login attempts. Try again later.",
        "status_code": 429,
        "context": None,
        "request_id": response["X-Request-Id"],
    }
    assert 1 <= int(response["Retry-After"]) <= 900
    # Another account from the same address is not affected.
    other = log_in(client, username=user.username, password=PASSWORD)
    assert other.status_code == 200


def test_client_address_is_throttled_after_too_many_failures(
    client: Client, settings: Any, make_user: Any
) -> None:
    settings.SLUICEGATE_LOGIN_MAX_FAILURES_PER_ACCOUNT = 100
    settings.SLUICEGATE_LOGIN_MAX_FAILURES_PER_IP = 3
    address = f"10.9.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    throttle.clear_ip_failures(address)
    user = make_user()
    try:
        for _attempt in range(3):
            response = client.post(
                URL,
                {"email": f"{unique('nobody')}@example.com", "password": "wrong"},
                content_type="application/json",
                REMOTE_ADDR=address,
                headers={"X-Forwarded-For": "192.0.2.1"},
            )
            assert response.status_code == 401
        body = {"email": user.email, "password": PASSWORD}
        refused = client.post(URL, body, content_type="application/json", REMOTE_ADDR=address)
        assert refused.status_code == 429
        assert int(refused["Retry-After"]) >= 1
        elsewhere = client.post(URL, body, content_type="application/json", REMOTE_ADDR="10.8.0.1")
        assert elsewhere.status_code == 200
    finally:
        throttle.clear_ip_failures(address)


def test_successful_login_clears_the_account_counter(client: Client, user: Any) -> None:
    for _attempt in range(2):
        assert log_in(client, email=user.email, password="wrong").status_code == 401
    assert log_in(client, email=user.email, password=PASSWORD).status_code == 200
    for _attempt in range(2):
        assert log_in(client, email=user.email, password="wrong").status_code == 401
    assert log_in(client, email=user.email, password=PASSWORD).status_code == 200


# Settings


def test_session_settings_have_defaults_and_are_parsed(tmp_path: Any) -> None:
    base = {"SLUICEGATE_ENV": "development", "SLUICEGATE_DATA_DIR": str(tmp_path)}
    defaults = load_environment(base)
    assert defaults.session_lifetime == 86400
    assert defaults.session_refresh_window == 1209600
    assert defaults.login_max_failures_per_account == 5
    assert defaults.login_max_failures_per_ip == 20
    assert defaults.login_failure_window == 900
    custom = load_environment({**base, "SLUICEGATE_SESSION_LIFETIME": " 3600 "})
    assert custom.session_lifetime == 3600
    for bad in ("soon", "0", "-5"):
        with pytest.raises(ImproperlyConfigured, match="SLUICEGATE_LOGIN_FAILURE_WINDOW"):
            load_environment({**base, "SLUICEGATE_LOGIN_FAILURE_WINDOW": bad})


# The API


def test_session_token_authorises_api_for_superuser(client: Client, make_user: Any) -> None:
    admin = make_user(superuser=True)
    token = token_of(client, admin)
    response = client.get("/api/v2", headers=with_token(token))
    assert response.status_code == 200, response.content
    assert "resource" in response.json()


def test_an_oversized_login_body_is_413(client: Client, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 200
    response = client.post(
        "/api/v2/user/session",
        json.dumps({"email": "x@example.com", "password": "p" * 500}),
        content_type="application/json",
    )
    assert response.status_code == 413
    assert response.json()["error"]["status_code"] == 413
