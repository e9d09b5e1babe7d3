"""Session tokens: signed JWTs issued by `/api/v2/user/session`, verified on every request.

One rule: a token is trusted only after its signature (HS256, the only
algorithm accepted), its expiry and its revocation (shared in Redis, so a
logout is seen by every process) have been checked.

A token carries `sub` (user id), `jti` (random id), `iat`, `exp`, `app` (the
app it was issued through, or null), `ruv` (refresh-until: the end of the
refresh window, counted from login and kept by every refresh, so a session
cannot be renewed forever), `iss` and `aud`. The signing key is derived from
SECRET_KEY with HMAC and a fixed label, so no other signature made with
SECRET_KEY can pass as a token. Times come from `now()`, which tests replace.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import redis
from django.conf import settings
from django.contrib.auth import get_backends, user_logged_in
from django.contrib.auth.models import User
from django.core.cache import cache
from django.http import HttpRequest
from rest_framework.request import Request

from rbac import throttle
from rbac.keys import digest_of_presented
from rbac.ldap import (
    LDAP_SERVICE,
    DirectoryBackend,
    DirectoryUnavailable,
    directory_user,
    ldap_first,
)
from rbac.state import current_state

ALGORITHM = "HS256"
ISSUER = "sluicegate"
AUDIENCE = "sluicegate:api"
KEY_LABEL = b"sluicegate session token signing key v1"
REQUIRED_CLAIMS = ("sub", "jti", "iat", "exp", "ruv", "iss", "aud")
REVOKED_PREFIX = "session-revoked:"

SESSION_HEADER = "HTTP_X_DREAMFACTORY_SESSION_TOKEN"

INVALID_SESSION = "Invalid session token."
EXPIRED_SESSION = "Session token has expired."
REVOKED_SESSION = "Session token has been revoked."
INVALID_CREDENTIALS = "Invalid credentials supplied."
INVALID_API_KEY = "Invalid API key."

logger = logging.getLogger(__name__)


class SessionError(Exception):
    """A presented session token is unusable; `str(error)` is safe to show the client."""


SESSIONS_UNAVAILABLE = "Sessions cannot be changed right now; retry shortly."
LOGINS_UNAVAILABLE = "Logins cannot be checked right now; retry shortly."


class SessionStoreUnavailable(Exception):
    """Revocations cannot be read (Redis is down): no token can be trusted for now."""


class InvalidCredentials(SessionError):
    """A login failed: unknown user, wrong password or inactive user alike."""

    def __init__(self) -> None:
        super().__init__(INVALID_CREDENTIALS)


@dataclass(frozen=True, slots=True)
class SessionClaims:
    """What a verified token says: who, through which app, and until when."""

    token_id: str
    user_id: int
    app_id: int | None
    issued_at: datetime
    expires_at: datetime
    refresh_until: datetime


def now() -> datetime:
    """Return the current time (UTC); tests replace this to move the clock."""
    return datetime.now(UTC)


def signing_key() -> bytes:
    """Return the HS256 key of session tokens: HMAC-SHA256 of a fixed label under SECRET_KEY."""
    return hmac.new(settings.SECRET_KEY.encode(), KEY_LABEL, hashlib.sha256).digest()


def issue_session(
    *, user_id: int, app_id: int | None, lifetime: timedelta | None = None
) -> tuple[str, SessionClaims]:
    """Return a new token for `user_id` through `app_id`, and its claims.

    `lifetime` caps the token below the configured session lifetime, with no
    refresh beyond it (e.g. the credential an API docs page starts with).
    """
    issued = now().replace(microsecond=0)
    configured = timedelta(seconds=int(settings.SLUICEGATE_SESSION_LIFETIME))
    window = timedelta(seconds=int(settings.SLUICEGATE_SESSION_REFRESH_WINDOW))
    refresh_until = issued + max(configured, window)
    if lifetime is not None:
        refresh_until = min(refresh_until, issued + lifetime)
    return _issue(user_id=user_id, app_id=app_id, issued=issued, refresh_until=refresh_until)


def _issue(
    *, user_id: int, app_id: int | None, issued: datetime, refresh_until: datetime
) -> tuple[str, SessionClaims]:
    lifetime = timedelta(seconds=int(settings.SLUICEGATE_SESSION_LIFETIME))
    claims = SessionClaims(
        token_id=secrets.token_urlsafe(16),
        user_id=user_id,
        app_id=app_id,
        issued_at=issued,
        expires_at=min(issued + lifetime, refresh_until),
        refresh_until=refresh_until,
    )
    payload = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(user_id),
        "jti": claims.token_id,
        "iat": int(claims.issued_at.timestamp()),
        "exp": int(claims.expires_at.timestamp()),
        "ruv": int(claims.refresh_until.timestamp()),
        "app": app_id,
    }
    return jwt.encode(payload, signing_key(), algorithm=ALGORITHM), claims


def verify_session_token(token: str, *, allow_expired: bool = False) -> SessionClaims:
    """Return the claims of a valid, unrevoked token; raise SessionError otherwise.

    `allow_expired` accepts a token past its expiry but within its refresh
    window (for PUT /user/session).
    """
    try:
        payload = jwt.decode(
            token,
            signing_key(),
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            # Expiry is checked below against `now()`, with the refresh window.
            options={
                "require": list(REQUIRED_CLAIMS),
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
                "strict_aud": True,
                "enforce_minimum_key_length": True,
            },
        )
    except jwt.PyJWTError:
        raise SessionError(INVALID_SESSION) from None
    claims = _claims(payload)
    current = now()
    if current >= claims.expires_at and not (allow_expired and current < claims.refresh_until):
        raise SessionError(EXPIRED_SESSION)
    try:
        revoked = cache.get(_revoked_key(claims.token_id)) is not None
    except Exception:  # Redis is down: refuse rather than trust a token that may be revoked
        logger.warning("session revocations cannot be read", exc_info=True)
        raise SessionStoreUnavailable(
            "Sessions cannot be checked right now; retry shortly."
        ) from None
    if revoked:
        raise SessionError(REVOKED_SESSION)
    return claims


def _claims(payload: dict[str, Any]) -> SessionClaims:
    """Return the typed claims of a signed payload; raise SessionError when one is malformed."""
    sub, jti, app = payload.get("sub"), payload.get("jti"), payload.get("app", False)
    times = [payload.get(name) for name in ("iat", "exp", "ruv")]
    stamps = [value for value in times if isinstance(value, int) and not isinstance(value, bool)]
    if (
        not isinstance(sub, str)
        or not sub.isdigit()
        or not isinstance(jti, str)
        or not jti
        or not (app is None or (isinstance(app, int) and not isinstance(app, bool)))
        or len(stamps) != len(times)
    ):
        raise SessionError(INVALID_SESSION)
    issued, expires, refresh_until = (datetime.fromtimestamp(value, UTC) for value in stamps)
    if not issued <= expires <= refresh_until:
        raise SessionError(INVALID_SESSION)
    return SessionClaims(
        token_id=jti,
        user_id=int(sub),
        app_id=app,
        issued_at=issued,
        expires_at=expires,
        refresh_until=refresh_until,
    )


def _revoked_key(token_id: str) -> str:
    return REVOKED_PREFIX + token_id


def _revocation_ttl(claims: SessionClaims) -> int:
    # Kept until the token could no longer be used or refreshed anyway.
    return max(1, math.ceil((claims.refresh_until - now()).total_seconds()))


def revoke_session(claims: SessionClaims) -> None:
    """Revoke the token `claims` came from, in every process.

    Raises SessionStoreUnavailable when the revocation cannot be stored.
    """
    with session_store():
        cache.set(_revoked_key(claims.token_id), 1, timeout=_revocation_ttl(claims))


@contextmanager
def session_store(message: str = SESSIONS_UNAVAILABLE) -> Iterator[None]:
    """Turn a failure of the sessions' store (Redis: revocations, login failures) into
    SessionStoreUnavailable(`message`)."""
    try:
        yield
    except (redis.RedisError, OSError):
        logger.warning("the session store cannot be reached", exc_info=True)
        raise SessionStoreUnavailable(message) from None


def refresh_session(token: str) -> tuple[str, SessionClaims]:
    """Return a new token for the session of `token` (expired or not), and revoke `token`.

    The new token keeps the session's refresh window. Raises SessionError when
    `token` is invalid, revoked, past its refresh window, already refreshed,
    or its user or app can no longer log in.
    """
    claims = verify_session_token(token, allow_expired=True)
    session_user(claims)
    # add() is atomic: of two refreshes of one token, only one gets a new token.
    with session_store():
        fresh = cache.add(_revoked_key(claims.token_id), 1, timeout=_revocation_ttl(claims))
    if not fresh:
        raise SessionError(REVOKED_SESSION)
    return _issue(
        user_id=claims.user_id,
        app_id=claims.app_id,
        issued=now().replace(microsecond=0),
        refresh_until=claims.refresh_until,
    )


def session_user(claims: SessionClaims) -> User:
    """Return the user of a verified session; raise SessionError when it or its app is gone or inactive."""
    user = User.objects.filter(pk=claims.user_id, is_active=True).first()
    if user is None:
        raise SessionError(INVALID_SESSION)
    if claims.app_id is not None:
        app = current_state().apps_by_id.get(claims.app_id)
        if app is None or not app.active:
            raise SessionError(INVALID_SESSION)
    return user


def login_app(key: str | None) -> int | None:
    """Return the id of the active app an API key names (None for no key); raise SessionError."""
    if not key:
        return None
    digest = digest_of_presented(key)
    app = current_state().app_for_digest(digest) if digest is not None else None
    if app is None or not app.active:
        raise SessionError(INVALID_API_KEY)
    return app.id


def log_in(
    request: HttpRequest,
    *,
    login: str,
    password: str,
    by_email: bool,
    app_id: int | None,
    service: str | None = None,
) -> tuple[User, str, SessionClaims]:
    """Authenticate `login` (an email when `by_email`, else a username) and open a session.

    `service="ldap"` checks the credentials with the directory only; without
    it, local accounts are checked, after the directory when
    `SLUICEGATE_LDAP_FIRST` is on. Returns the user, the new token and its
    claims. Raises throttle.LoginThrottled when the account or the client
    address failed too often; InvalidCredentials for an unknown user, a wrong
    password or an inactive user alike (each counted as a failure); and
    rbac.ldap.DirectoryUnavailable when the directory was needed and could
    not answer (not counted when no password could be checked at all).
    """
    ip = str(request.META.get("REMOTE_ADDR") or "unknown")
    with session_store(LOGINS_UNAVAILABLE):
        throttle.check_login_allowed(account=login, ip=ip)
    user: User | None = None
    outage: DirectoryUnavailable | None = None
    if service == LDAP_SERVICE or ldap_first():
        try:
            user = directory_user(request, login=login, password=password)
        except DirectoryUnavailable as error:
            if service == LDAP_SERVICE:
                raise
            outage = error  # local accounts can still log in while the directory is down
    if user is None and service != LDAP_SERVICE:
        user = local_user(request, login=login, password=password, by_email=by_email)
    if user is None or not user.is_active:
        with session_store(LOGINS_UNAVAILABLE):
            throttle.record_login_failure(account=login, ip=ip)
        if outage is not None:
            raise outage
        raise InvalidCredentials
    with session_store(LOGINS_UNAVAILABLE):
        throttle.clear_account_failures(login)
    user_logged_in.send(sender=user.__class__, request=request, user=user)
    token, claims = issue_session(user_id=user.pk, app_id=app_id)
    return user, token, claims


def local_user(request: HttpRequest, *, login: str, password: str, by_email: bool) -> User | None:
    """Return the local account `login` and `password` authenticate, or None.

    Every configured backend but the directory's is asked, in order.
    """
    username: str | None = login
    if by_email:
        matches = list(User.objects.filter(email__iexact=login.strip())[:2])
        # No user, or an email two users share: fail as a wrong password would.
        username = matches[0].get_username() if len(matches) == 1 else None
    if username is None:
        User().set_password(password)  # the same hashing time as a wrong password
        return None
    for backend in get_backends():
        if isinstance(backend, DirectoryBackend):
            continue
        user = backend.authenticate(request, username=username, password=password)
        if user is not None:
            return user if isinstance(user, User) else None
    return None


def session_token_from(request: HttpRequest | Request) -> str | None:
    """Return the session token a request carries, or None.

    Looked for in `X-DreamFactory-Session-Token`, then `Authorization: Bearer`
    (only a JWT-shaped value: OAuth2 access tokens share that header), then
    `?session_token=`.
    """
    http = request._request if isinstance(request, Request) else request
    token = str(http.META.get(SESSION_HEADER) or "").strip()
    if token:
        return token
    scheme, _, bearer = str(http.META.get("HTTP_AUTHORIZATION") or "").strip().partition(" ")
    bearer = bearer.strip()
    if scheme.lower() == "bearer" and _looks_like_jwt(bearer):
        return bearer
    token = (http.GET.get("session_token") or "").strip()
    return token or None


def _looks_like_jwt(value: str) -> bool:
    parts = value.split(".")
    return len(parts) == 3 and bool(parts[0]) and bool(parts[1])
