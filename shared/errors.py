"""The one exception tree of defender-relay.

Library errors (requests, MSAL result dicts, azure-core) are translated into these at the boundary,
chained with ``raise ... from``. A new type exists only where a caller acts differently on it.

    RelayError                         base; ``str()`` is a message fit for an operator or an HTTP caller
    ├── ConfigError                    bad or missing settings (all problems at once, each setting named)
    ├── ValidationError                bad input (field named); HTTP 400/422
    ├── TenantNotFoundError            tenant not in the registry (or disabled); HTTP 404
    ├── LeaseHeldError                 another worker holds the (tenant, feed) lease; complete quietly
    ├── DeliveryError                  a sink refused or failed; the job is retried, checkpoint unchanged
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
        ├── ThrottledError             429 with ``retry_at`` (a long wait: hand the job back to the queue)
        └── DefenderUnavailableError   5xx / connection errors after bounded retries
"""

from __future__ import annotations

from datetime import datetime


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


class TenantNotFoundError(RelayError):
    kind = "tenant-not-found"

    def __init__(self, tenant_id: str, message: str | None = None) -> None:
        super().__init__(message or f"tenant {tenant_id} is not in the registry")
        self.tenant_id = tenant_id


class LeaseHeldError(RelayError):
    kind = "lease-held"


class DeliveryError(RelayError):
    kind = "delivery"


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


class ThrottledError(DefenderError):
    """Defender said 429 and the wait is too long to sleep through. Retry at ``retry_at`` (UTC)."""

    kind = "throttled"

    def __init__(self, message: str, *, retry_at: datetime, tenant_id: str | None = None) -> None:
        super().__init__(message, status=429, code="429", tenant_id=tenant_id)
        self.retry_at = retry_at


class DefenderUnavailableError(DefenderError):
    kind = "unavailable"
