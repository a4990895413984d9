"""``Caller``: who sent a request, as proven by a bearer token, a function key, or the operator CLI."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from shared.callers.roles import ALL_ROLES, APP_ROLES
from shared.callers.scope import EVERY_TENANT, CallerScope
from shared.domain.errors import RoleRequiredError

AuthKind = Literal["entra", "function-key", "operator"]


@dataclass(frozen=True)
class Caller:
    """What the audit trail records and what authorisation reads.

    ``app_id`` is the token's ``appid`` (v1.0) or ``azp`` (v2.0), ``object_id`` its ``oid`` (the service
    principal, managed identity or user); both are empty for key callers. ``auth`` notes how the caller
    was proven, plus ``+hmac`` or ``+hmac(previous)`` once a request signature is checked.
    """

    name: str
    auth: str
    roles: frozenset[str]
    scope: CallerScope
    app_id: str = ""
    object_id: str = ""

    @property
    def label(self) -> str:
        """How a record of work it asked for names it: the display name, and the app's id for a token."""
        return f"{self.name} [{self.app_id or self.object_id}]" if self.auth == "entra" else self.name

    def require(self, role: str) -> None:
        if role not in self.roles:
            held = ", ".join(sorted(r for r in self.roles if r in APP_ROLES)) or "none"
            raise RoleRequiredError(
                f"this route requires the app role {role} on the relay API; the caller's token carries: {held} "
                "(an Entra administrator assigns app roles to the caller's app or managed identity)",
                role=role,
            )


def trusted_caller(name: str, auth: AuthKind) -> Caller:
    """A function-key or operator caller: every role and every tenant, as before Entra ID callers existed."""
    return Caller(name=name, auth=auth, roles=ALL_ROLES, scope=EVERY_TENANT)
