"""`Idempotency-Key` on table writes: a retried request gets the first answer, not a second write.

One rule: a write that carries a key runs at most once per caller and key
while its answer is remembered (`SLUICEGATE_IDEMPOTENCY_SECONDS`, 24 h by
default). The same request again gets the stored answer (status, body,
content type) with `Idempotent-Replayed: true`; another request under the
same key is a 422; one arriving while the first still runs is a 409. Only
answers a retry would get again are stored: 2xx, and 4xx other than 409 and
429. Answers and locks live in the (Redis) cache, scoped to the caller.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request

from rbac.policies import Principal
from services.api.errors import ApiError, exception_handler
from services.api.write_bodies import read_body

HEADER = "HTTP_IDEMPOTENCY_KEY"
REPLAYED_HEADER = "Idempotent-Replayed"
DEFAULT_SECONDS = 86400
MAX_KEY_LENGTH = 255
# How long a key stays locked while its request runs. Longer than any write
# should take (statements time out after 30 s by default), so a slow write is
# never run twice; a process that dies mid-write blocks its key for this long.
LOCK_SECONDS = 300
# Answers a retry could see differently are not kept: a conflict or a rate
# limit may clear, and 5xx are ours to fix.
UNSTORED_STATUSES = frozenset({409, 429})


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    """The first answer to a keyed request, and the fingerprint of that request."""

    fingerprint: str
    status: int
    content_type: str
    body: bytes

    def as_cached(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "status": self.status,
            "content_type": self.content_type,
            "body": self.body,
        }

    @classmethod
    def from_cached(cls, value: Any) -> StoredAnswer | None:
        """The answer a cache value holds; None for anything else (e.g. an older format)."""
        if not isinstance(value, dict):
            return None
        try:
            return cls(
                fingerprint=str(value["fingerprint"]),
                status=int(value["status"]),
                content_type=str(value["content_type"]),
                body=bytes(value["body"]),
            )
        except (KeyError, TypeError, ValueError):
            return None


def idempotency_seconds() -> int:
    """How long answers are kept; read at each call so tests and deployments can change it."""
    return int(getattr(settings, "SLUICEGATE_IDEMPOTENCY_SECONDS", DEFAULT_SECONDS))


def key_of(request: Request) -> str | None:
    """The request's `Idempotency-Key`, or None without one.

    Raises ApiError 400 unless it is 1 to 255 printable ASCII characters.
    """
    raw = request._request.META.get(HEADER)
    if raw is None:
        return None
    key = str(raw)
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not all(" " <= char <= "~" for char in key):
        raise ApiError(
            400,
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters.",
        )
    return key


def scope_of(principal: Principal) -> str:
    """Whose keys these are: the app, and within it the signed-in user (else the user alone).

    The user is part of an app's scope so that two users of one app never
    receive each other's answers, which their own policies might not allow.
    """
    parts = []
    if principal.app is not None:
        parts.append(f"app:{principal.app.id}")
    if principal.user is not None:
        parts.append(f"user:{principal.user.id}")
    return ":".join(parts) or "anonymous"


def cache_keys(principal: Principal, key: str) -> tuple[str, str]:
    """The cache keys of the stored answer and of the in-flight lock for `key`."""
    # Hashed: the client's key may hold characters and lengths cache keys should not.
    digest = hashlib.sha256(key.encode("ascii")).hexdigest()
    base = f"idempotency:{scope_of(principal)}:{digest}"
    return f"{base}:answer", f"{base}:lock"


def request_fingerprint(request: Request, *, method: str, body: bytes) -> str:
    """SHA-256 of the method, the path, the query string in sorted order, and the body."""
    query = urlencode(
        sorted(parse_qsl(request._request.META.get("QUERY_STRING", ""), keep_blank_values=True))
    )
    digest = hashlib.sha256()
    for part in (method.encode(), request._request.path.encode(), query.encode()):
        digest.update(part + b"\n")
    digest.update(body)
    return digest.hexdigest()


def replay(answer: StoredAnswer) -> HttpResponse:
    response = HttpResponse(answer.body, status=answer.status, content_type=answer.content_type)
    response[REPLAYED_HEADER] = "true"
    return response


def stored_or_refused(answer: StoredAnswer, *, fingerprint: str, key: str) -> HttpResponse:
    """Replay `answer` when it is this request's; raise ApiError 422 when the key was reused."""
    if answer.fingerprint != fingerprint:
        raise ApiError(422, f"Idempotency-Key '{key}' was already used with a different request.")
    return replay(answer)


def answer_of(run: Callable[[], HttpResponse]) -> HttpResponse:
    """Run the write; an error it raises becomes its error answer when that answer is storable.

    Other errors (5xx, 409, 429, or none the API handler knows) propagate and
    are answered as usual.
    """
    try:
        return run()
    except Exception as error:
        handled = exception_handler(error, {})
        if handled is None or not storable(handled.status_code):
            raise
        # Rendered as DRF renders the error envelope, so the first answer and
        # its replays carry the same bytes.
        response = HttpResponse(
            JSONRenderer().render(handled.data),
            status=handled.status_code,
            content_type=JSONRenderer.media_type,
        )
        for name, value in handled.headers.items():
            if name.lower() != "content-type":  # Django's default, until DRF renders
                response[name] = value
        return response


def response_is_rendered(response: HttpResponse) -> bool:
    return bool(getattr(response, "is_rendered", True))


def storable(status: int) -> bool:
    return 200 <= status < 300 or (400 <= status < 500 and status not in UNSTORED_STATUSES)


def with_idempotency(
    request: Request,
    principal: Principal,
    run: Callable[[], HttpResponse],
    *,
    method: str,
) -> HttpResponse:
    """Return `run()`'s answer, or the stored answer when the request's key was seen.

    Without an `Idempotency-Key` header this is just `run()`. `method` is the
    verb the write performs (a POST may tunnel another). Raises ApiError 413
    (over-size body, checked first), 400 (malformed key), 422 (key used for
    another request) or 409 (the key's first request is still running).
    """
    body = read_body(request)  # first, so an over-size body is still a 413
    key = key_of(request)
    if key is None:
        return run()
    fingerprint = request_fingerprint(request, method=method, body=body)
    answer_key, lock_key = cache_keys(principal, key)
    stored = StoredAnswer.from_cached(cache.get(answer_key))
    if stored is not None:
        return stored_or_refused(stored, fingerprint=fingerprint, key=key)
    token = uuid.uuid4().hex
    if not cache.add(lock_key, token, timeout=LOCK_SECONDS):
        raise ApiError(409, "A request with this Idempotency-Key is still being processed.")
    try:
        # The first request may have finished between the look-up and the lock.
        stored = StoredAnswer.from_cached(cache.get(answer_key))
        if stored is not None:
            return stored_or_refused(stored, fingerprint=fingerprint, key=key)
        response = answer_of(run)
        # A streamed or unrendered answer has no bytes to keep; writes give neither.
        if (
            storable(response.status_code)
            and not response.streaming
            and response_is_rendered(response)
        ):
            answer = StoredAnswer(
                fingerprint=fingerprint,
                status=response.status_code,
                content_type=response.get("Content-Type", JSONRenderer.media_type),
                body=response.content,
            )
            cache.set(answer_key, answer.as_cached(), timeout=idempotency_seconds())
        return response
    finally:
        # Only our own lock: one that outlived LOCK_SECONDS may now be another request's.
        if cache.get(lock_key) == token:
            cache.delete(lock_key)
