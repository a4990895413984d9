"""RFC 9457 problem details: every error of the HTTP API as ``application/problem+json``.

``problem_from_error`` maps the exception tree of ``shared.domain.errors`` onto a status, a stable ``type``
URI (``urn:defender-relay:problem:<slug>``, listed in docs/http-api.md) and a precise ``detail``.
Anything not in the tree becomes a 500 whose detail says nothing about the cause (the cause is logged,
never sent): input never gets that far, because every input error is a ``ValidationError``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from shared.domain.errors import (
    ActionConflictError,
    ActionNotAllowedError,
    AmbiguousMachineError,
    AuthError,
    CallerAuthenticationError,
    CallerError,
    DefenderError,
    DefenderForbiddenError,
    DefenderNotFoundError,
    DefenderUnavailableError,
    HuntFailedError,
    HuntingDisabledError,
    HuntNotFoundError,
    IdempotencyConflictError,
    MissingRolesError,
    NotConsentedError,
    OutOfScopeError,
    PendingActionError,
    RelayError,
    RoleRequiredError,
    SignatureError,
    TenantNotFoundError,
    ThrottledError,
    TokenServiceError,
    UpstreamRejectedError,
    ValidationError,
)

PROBLEM_JSON: Final = "application/problem+json"
IDEMPOTENCY_KEY_FIELD: Final = "Idempotency-Key"
_TYPE_PREFIX: Final = "urn:defender-relay:problem:"
_TITLES: Final = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


# Every problem type the HTTP API answers with. A ``Problem`` with any other slug is a programming error,
# so the table in docs/soar-integration.md ("Errors") can be checked against this set exactly.
PROBLEM_TYPES: Final = frozenset(
    {
        "malformed-request", "method-not-allowed", "body-too-large", "unsupported-media-type", "invalid-value",
        "signature", "action-not-allowed", "tenant-not-found", "ambiguous-machine", "idempotency-conflict",
        "missing-permission", "not-consented", "token-service-unavailable", "tenant-auth-failed", "throttled",
        "not-found", "defender-forbidden", "action-pending", "defender-unavailable", "defender-error",
        "audit-unavailable", "not-configured", "internal", "upstream-rejected", "idempotency-key-required",
        "job-not-found", "hunt-not-found", "hunting-disabled", "hunt-failed", "invalid-token", "role-required",
        "tenant-out-of-scope",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Problem:
    status: int
    slug: str
    detail: str
    extensions: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.slug not in PROBLEM_TYPES:
            raise ValueError(f"problem type {self.slug!r} is not in PROBLEM_TYPES (and so not documented)")

    @property
    def type(self) -> str:
        return _TYPE_PREFIX + self.slug

    def to_json(self, *, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.type,
            "title": _TITLES.get(self.status, "Error"),
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        body.update(self.extensions)
        return body


def problem_from_error(exc: BaseException, *, now: datetime | None = None) -> Problem:  # noqa: PLR0911  # one flat mapping reads best
    """The problem for an error; ``exc`` is never rendered beyond its own operator-safe message."""
    if isinstance(exc, ValidationError):
        extensions = {"field": exc.field} if exc.field else {}
        return Problem(exc.status, _validation_slug(exc.status, exc.field), exc.message, extensions)
    if isinstance(exc, SignatureError):
        return Problem(
            401, "signature", exc.message, headers={"WWW-Authenticate": 'HMAC-SHA256 realm="defender-relay"'}
        )
    if isinstance(exc, CallerError):
        return _caller_problem(exc)
    if isinstance(exc, ActionNotAllowedError):
        return Problem(403, "action-not-allowed", exc.message, {"tenantId": exc.tenant_id, "action": exc.action})
    if isinstance(exc, TenantNotFoundError):
        return Problem(404, "tenant-not-found", exc.message, {"tenantId": exc.tenant_id})
    if isinstance(exc, AmbiguousMachineError):
        return Problem(409, "ambiguous-machine", exc.message, {"candidates": exc.candidates})
    if isinstance(exc, IdempotencyConflictError):
        return Problem(exc.status, "idempotency-conflict", exc.message)
    if isinstance(exc, HuntNotFoundError | HuntingDisabledError | HuntFailedError):
        return _hunt_problem(exc)
    if isinstance(exc, AuthError):
        return _auth_problem(exc)
    if isinstance(exc, DefenderError):
        return _defender_problem(exc, now or datetime.now(UTC))
    if isinstance(exc, RelayError):
        return Problem(500, "internal", exc.message)
    return Problem(500, "internal", "internal error; the cause was logged with this request's id")


def _hunt_problem(exc: RelayError) -> Problem:
    if isinstance(exc, HuntNotFoundError):
        return Problem(404, "hunt-not-found", exc.message, {"huntId": exc.hunt_id})
    if isinstance(exc, HuntingDisabledError):
        return Problem(403, "hunting-disabled", exc.message)
    return Problem(409, "hunt-failed", exc.message)


def _validation_slug(status: int, field: str | None) -> str:
    # A route that needs the header (the triage batch) answers 400 without it, as the IETF draft on the
    # Idempotency-Key header asks (draft-ietf-httpapi-idempotency-key-header, "Error Scenarios").
    if status == 400 and field == IDEMPOTENCY_KEY_FIELD:
        return "idempotency-key-required"
    return {
        400: "malformed-request",
        405: "method-not-allowed",
        413: "body-too-large",
        415: "unsupported-media-type",
    }.get(status, "invalid-value")


def _caller_problem(exc: CallerError) -> Problem:
    # RFC 6750 §3: a 401 names the scheme; error="invalid_token" only when a token was presented and refused.
    if isinstance(exc, CallerAuthenticationError):
        challenge = 'Bearer realm="defender-relay"' + (', error="invalid_token"' if exc.token_presented else "")
        return Problem(401, "invalid-token", exc.message, headers={"WWW-Authenticate": challenge})
    if isinstance(exc, RoleRequiredError):
        return Problem(403, "role-required", exc.message, {"requiredRole": exc.role})
    if isinstance(exc, OutOfScopeError):
        return Problem(403, "tenant-out-of-scope", exc.message, {"tenantId": exc.tenant_id})
    # SigningKeysUnavailableError: Entra ID's keys could not be fetched; the caller's token may be fine.
    return Problem(503, "token-service-unavailable", exc.message, headers={"Retry-After": "30"})


def _auth_problem(exc: AuthError) -> Problem:
    extensions: dict[str, Any] = {"tenantId": exc.tenant_id}
    if exc.remedy:
        extensions["remedy"] = exc.remedy
    if isinstance(exc, MissingRolesError):
        extensions["missingRoles"] = exc.missing
        return Problem(403, "missing-permission", exc.message, extensions)
    if isinstance(exc, NotConsentedError):
        return Problem(403, "not-consented", exc.message, extensions)
    if isinstance(exc, TokenServiceError):
        return Problem(503, "token-service-unavailable", exc.message, extensions, {"Retry-After": "30"})
    # The partner's own credential or registry is wrong: our side of the gateway, not the caller's request.
    return Problem(502, "tenant-auth-failed", exc.message, extensions)


def _defender_problem(exc: DefenderError, now: datetime) -> Problem:  # noqa: PLR0911
    extensions: dict[str, Any] = {"upstreamStatus": exc.status, "upstreamCode": exc.code}
    extensions = {k: v for k, v in extensions.items() if v is not None}
    if isinstance(exc, ThrottledError):
        wait = max(1, math.ceil((exc.retry_at - now).total_seconds()))
        return Problem(429, "throttled", exc.message, {**extensions, "retryAfter": wait}, {"Retry-After": str(wait)})
    if isinstance(exc, DefenderNotFoundError):
        return Problem(404, "not-found", exc.message, extensions)
    if isinstance(exc, DefenderForbiddenError):
        return Problem(403, "defender-forbidden", exc.message, extensions)
    if isinstance(exc, PendingActionError):
        return Problem(409, "action-pending", exc.message, {**extensions, "pendingAction": exc.pending_action})
    if isinstance(exc, ActionConflictError):
        return Problem(409, "action-pending", exc.message, extensions)
    if isinstance(exc, UpstreamRejectedError):
        return Problem(422, "upstream-rejected", exc.message, extensions)
    if isinstance(exc, DefenderUnavailableError):
        return Problem(503, "defender-unavailable", exc.message, extensions, {"Retry-After": "30"})
    return Problem(502, "defender-error", exc.message, extensions)
