"""The one exception tree of defender-relay.

Library errors (requests, MSAL result dicts, azure-core) are translated into these at the boundary,
chained with ``raise ... from``. A new type exists only where a caller acts differently on it.

    RelayError                         base; ``str()`` is a message fit for an operator or an HTTP caller
    ├── ConfigError                    bad or missing settings (all problems at once, each setting named)
    ├── ValidationError                bad input (field named); HTTP 400/413/415/422
    ├── SignatureError                 HTTP request signature missing, bad, stale or replayed; HTTP 401
    ├── ActionNotAllowedError          the tenant's allow-list does not permit this action; HTTP 403
    ├── AmbiguousMachineError          a machine name/IP matches more than one device (``candidates``); HTTP 409
    ├── IdempotencyConflictError       an Idempotency-Key is in flight or was used for another request; HTTP 409/422
    ├── TenantNotFoundError            tenant not in the registry (or disabled); HTTP 404
    ├── HuntNotFoundError              no hunt (or saved hunt) with that id; HTTP 404
    ├── HuntingDisabledError           hunting is switched off (RELAY_HUNTING_ENABLED); HTTP 403
    ├── HuntFailedError                the hunt's query was refused by Graph, so it has no results; HTTP 409
    ├── LeaseHeldError                 another worker holds the (tenant, feed) lease (until ``held_until``)
    ├── IndicatorCapError              a push would pass the tenant's active-indicator limit (``active``, ``limit``)
    ├── DeliveryError                  a sink refused or failed; the job is retried, checkpoint unchanged
    ├── CallerError                    the HTTP caller (not a tenant) is refused
    │   ├── CallerAuthenticationError  no bearer token, or one that fails validation; HTTP 401
    │   ├── RoleRequiredError          the caller lacks the route's app role (``role``); HTTP 403
    │   ├── OutOfScopeError            the tenant is outside the caller's tenant scope (``tenant_id``); HTTP 403
    │   └── SigningKeysUnavailableError  Entra ID's signing keys cannot be fetched; HTTP 503 (retry)
    ├── AuthError                      could not get a usable token for a tenant (``tenant_id``, ``kind``, ``remedy``)
    │   ├── NotConsentedError          app never consented in the tenant (remedy carries the consent link)
    │   ├── MissingRolesError          token lacks roles the work needs (``missing``)
    │   ├── CredentialError            the partner app's own credential is bad or expired (not the tenant's fault)
    │   ├── UnknownTenantError         no such tenant in that cloud
    │   ├── WrongCloudError            tenant lives in another cloud than configured
    │   └── TokenServiceError          Entra ID unavailable / transient (retry later)
    └── DefenderError                  the Defender API refused or failed (``status``, ``code``, ``tenant_id``)
        ├── DefenderNotFoundError      404 ResourceNotFound
        ├── DefenderForbiddenError     403 (permission named in ``message``)
        ├── ActionConflictError        400 ActiveRequestAlreadyExists
        │   └── PendingActionError     ... with the pending action looked up (``pending_action``); HTTP 409
        ├── HuntQueryError             400 for a hunting query (syntax, semantics): the query is wrong, not the tenant
        ├── HuntLimitError             a hunting query hit a documented limit in one tenant (``limit``: timeout, size)
        ├── ThrottledError             429 with ``retry_at`` (a long wait: hand the job back to the queue)
        ├── DefenderUnavailableError   5xx / connection errors after bounded retries
        └── UpstreamRejectedError      400 to a triage write the relay had checked (the service's reason); HTTP 422
"""

from __future__ import annotations

from datetime import datetime


def clip(value: object, limit: int = 64) -> str:
    """A short, quoted rendering of caller input for error messages."""
    text = value if isinstance(value, str) else str(value)
    return repr(text[:limit] + ("…" if len(text) > limit else ""))


class RelayError(Exception):
    """Base of every error defender-relay raises on purpose."""

    kind: str = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(RelayError):
    """One or more settings are missing or invalid. ``problems`` lists one line per setting."""

    kind = "config"

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid configuration:\n  - " + "\n  - ".join(self.problems))


class ValidationError(RelayError):
    """Bad input. ``field`` names what was wrong; ``status`` is the HTTP status to answer with."""

    kind = "validation"

    def __init__(self, message: str, *, field: str | None = None, status: int = 422) -> None:
        super().__init__(message)
        self.field = field
        self.status = status


class SignatureError(RelayError):
    """The HMAC signature of an HTTP request is missing, wrong, outside the replay window, or already used."""

    kind = "signature"


class ActionNotAllowedError(RelayError):
    """The tenant's allow-list does not contain the requested response action."""

    kind = "action-not-allowed"

    def __init__(self, message: str, *, tenant_id: str, action: str) -> None:
        super().__init__(message)
        self.tenant_id = tenant_id
        self.action = action


class AmbiguousMachineError(RelayError):
    """A machine name or IP matched several devices; ``candidates`` lists them (id, name, last seen)."""

    kind = "ambiguous-machine"

    def __init__(self, message: str, *, candidates: list[dict[str, str | None]]) -> None:
        super().__init__(message)
        self.candidates = list(candidates)


class IdempotencyConflictError(RelayError):
    """An Idempotency-Key is still being processed (409) or was first used for a different request (422)."""

    kind = "idempotency-conflict"

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class TenantNotFoundError(RelayError):
    kind = "tenant-not-found"

    def __init__(self, tenant_id: str, message: str | None = None) -> None:
        super().__init__(message or f"tenant {tenant_id} is not in the registry")
        self.tenant_id = tenant_id


class HuntNotFoundError(RelayError):
    kind = "hunt-not-found"

    def __init__(self, hunt_id: str, message: str | None = None) -> None:
        super().__init__(message or f"no hunt with id {hunt_id!r}")
        self.hunt_id = hunt_id


class HuntingDisabledError(RelayError):
    kind = "hunting-disabled"


class HuntFailedError(RelayError):
    kind = "hunt-failed"


class LeaseHeldError(RelayError):
    """``holder`` and ``held_until``: whose lease it is and when it ends, when the store read them (a lease
    taken a moment ago by a racing claim, or taken over from us, has neither)."""

    kind = "lease-held"

    def __init__(self, message: str, *, holder: str = "", held_until: datetime | None = None) -> None:
        super().__init__(message)
        self.holder = holder
        self.held_until = held_until


class IndicatorCapError(RelayError):
    """Adding indicators would pass the tenant's limit of active indicators: nothing is sent to that tenant."""

    kind = "indicator-cap"

    def __init__(self, tenant_id: str, *, active: int, adding: int, limit: int) -> None:
        super().__init__(
            f"tenant {tenant_id} has {active:,} active indicators the relay can see; adding {adding:,} would pass "
            f"Defender's limit of {limit:,} per tenant. Remove indicators (or let them expire) first"
        )
        self.tenant_id = tenant_id
        self.active = active
        self.adding = adding
        self.limit = limit


class DeliveryError(RelayError):
    kind = "delivery"


class CallerError(RelayError):
    """The caller of the HTTP API is not authenticated or not authorised; never about a customer tenant's token."""

    kind = "caller"


class CallerAuthenticationError(CallerError):
    """No bearer token where one is required, or one that fails validation (the reason is in ``message``)."""

    kind = "unauthenticated"

    def __init__(self, message: str, *, token_presented: bool = False) -> None:
        super().__init__(message)
        self.token_presented = token_presented


class RoleRequiredError(CallerError):
    """The caller's token does not carry the app role the route requires."""

    kind = "role-required"

    def __init__(self, message: str, *, role: str) -> None:
        super().__init__(message)
        self.role = role


class OutOfScopeError(CallerError):
    """The tenant is not among the tenants (by id or tag) the caller may act on."""

    kind = "out-of-scope"

    def __init__(self, message: str, *, tenant_id: str) -> None:
        super().__init__(message)
        self.tenant_id = tenant_id


class SigningKeysUnavailableError(CallerError):
    """The partner tenant's OpenID metadata or signing keys could not be fetched: a token cannot be judged now."""

    kind = "signing-keys-unavailable"


class AuthError(RelayError):
    """No usable token for a tenant. ``remedy`` says what the partner should do."""

    kind = "auth"

    def __init__(self, message: str, *, tenant_id: str, remedy: str = "") -> None:
        super().__init__(message)
        self.tenant_id = tenant_id
        self.remedy = remedy


class NotConsentedError(AuthError):
    kind = "not-consented"


class MissingRolesError(AuthError):
    kind = "missing-roles"

    def __init__(self, message: str, *, tenant_id: str, missing: list[str], remedy: str = "") -> None:
        super().__init__(message, tenant_id=tenant_id, remedy=remedy)
        self.missing = sorted(missing)


class CredentialError(AuthError):
    kind = "bad-credential"


class UnknownTenantError(AuthError):
    kind = "unknown-tenant"


class WrongCloudError(AuthError):
    kind = "wrong-cloud"


class TokenServiceError(AuthError):
    kind = "token-service"


class DefenderError(RelayError):
    """The Defender API answered with an error (or not at all)."""

    kind = "defender"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        tenant_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.tenant_id = tenant_id


class DefenderNotFoundError(DefenderError):
    kind = "not-found"


class DefenderForbiddenError(DefenderError):
    kind = "forbidden"


class ActionConflictError(DefenderError):
    kind = "action-conflict"


class PendingActionError(ActionConflictError):
    """ActiveRequestAlreadyExists, with the action already pending or running (``pending_action``, may be empty)."""

    def __init__(self, message: str, *, pending_action: dict[str, str | None], tenant_id: str | None = None) -> None:
        super().__init__(message, status=400, code="ActiveRequestAlreadyExists", tenant_id=tenant_id)
        self.pending_action = dict(pending_action)


class HuntQueryError(DefenderError):
    """Graph refused the hunting query itself (400): Microsoft's message says what is wrong with it."""

    kind = "query-error"


class HuntLimitError(DefenderError):
    """The query hit a documented hunting limit in this tenant (``limit``: ``timeout`` or ``result-size``)."""

    kind = "hunt-limit"

    def __init__(self, message: str, *, limit: str, status: int | None = None, tenant_id: str | None = None) -> None:
        super().__init__(message, status=status, code=limit, tenant_id=tenant_id)
        self.limit = limit


class ThrottledError(DefenderError):
    """Defender said 429 and the wait is too long to sleep through. Retry at ``retry_at`` (UTC)."""

    kind = "throttled"

    def __init__(self, message: str, *, retry_at: datetime, tenant_id: str | None = None) -> None:
        super().__init__(message, status=429, code="429", tenant_id=tenant_id)
        self.retry_at = retry_at


class DefenderUnavailableError(DefenderError):
    kind = "unavailable"


class UpstreamRejectedError(DefenderError):
    """The service answered 400 to a write whose values the relay had already checked: the caller can change
    them (the message carries the service's reason), so it is not the relay's fault (502)."""

    kind = "rejected"
