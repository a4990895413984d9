"""The app roles of the relay's own API app registration: one per capability, each route requires one.

Roles are independent: ``Relay.Admin`` does not include ``Relay.Respond`` (a caller that sweeps and
reads the audit trail need not be able to isolate machines). A function-key caller and the operator CLI
hold every role, as before Entra ID callers existed. Roles named ``Relay.Scope.*`` are not capabilities
but tenant scopes (``shared.callers.scope.scope_from_roles``).
"""

from __future__ import annotations

from typing import Final, Literal

AppRole = Literal["Relay.Read", "Relay.Respond", "Relay.Triage", "Relay.Hunt", "Relay.Indicators", "Relay.Admin"]

READ: Final = "Relay.Read"
RESPOND: Final = "Relay.Respond"
TRIAGE: Final = "Relay.Triage"
HUNT: Final = "Relay.Hunt"
INDICATORS: Final = "Relay.Indicators"
ADMIN: Final = "Relay.Admin"

# value -> what it allows (the description of the app role on the app registration, docs/http-api.md).
APP_ROLES: Final[dict[str, str]] = {
    READ: "read: action status, machine lookup, audit records, tenants and their health, the OpenAPI document",
    RESPOND: "respond: machine actions (isolate, scan, restrict, collect, stop and quarantine) and cancel",
    TRIAGE: "triage: alert and incident updates and comments, the alert batch, machine tags",
    HUNT: "hunt: hunts across tenants (start, status, rows) and saved hunts",
    INDICATORS: "indicators: push, sync, drift and remove indicator jobs, their status, a tenant's indicators",
    ADMIN: "admin: on-demand sweeps and machine offboarding",
}
ALL_ROLES: Final = frozenset(APP_ROLES)
