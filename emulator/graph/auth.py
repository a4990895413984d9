"""Who may call a Graph host: bearer token, audience, the tenant's cloud, and the app roles of the route.

Invalid or missing tokens and a wrong ``aud`` are 401 ``InvalidAuthenticationToken``, a token without the
route's roles is 403 ``Forbidden`` with "Missing application roles. API required roles: …, application roles:
…." (https://learn.microsoft.com/graph/errors for the codes; the message as real alerts_v2 and incidents
answers carry it, https://github.com/wazuh/wazuh-documentation/issues/7300). A tenant that consented before
the partner app asked for the Graph roles gets a Graph token without a roles claim, so it meets this 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emulator.entra.tokens import TokenInvalidError, TokenService
from emulator.graph.errors import GraphError
from emulator.graph.hosts import GraphHost
from emulator.world import World

# Any of these roles lets an app read the route. The alerts_v2 refusal names the incident roles too
# (observed in the 403 quoted in wazuh-documentation#7300); least privileged are SecurityAlert.Read.All and
# SecurityIncident.Read.All (https://learn.microsoft.com/graph/api/security-list-alerts_v2, security-list-incidents).
ALERT_READ_ROLES = (
    "SecurityAlert.Read.All",
    "SecurityAlert.ReadWrite.All",
    "SecurityIncident.Read.All",
    "SecurityIncident.ReadWrite.All",
)
INCIDENT_READ_ROLES = ("SecurityIncident.Read.All", "SecurityIncident.ReadWrite.All")


@dataclass(frozen=True)
class GraphCaller:
    tenant_id: str
    app_id: str
    roles: frozenset[str]
    app_name: str = ""  # the app's display name: the author of the comments it writes


def _unauthenticated(message: str) -> GraphError:
    return GraphError(401, "InvalidAuthenticationToken", message, headers={"WWW-Authenticate": "Bearer"})


class GraphAuthorizer:
    def __init__(self, world: World, tokens: TokenService) -> None:
        self._world = world
        self._tokens = tokens
        self._callers: dict[str, tuple[str, GraphCaller]] = {}  # token -> (aud, caller); expiry checked each time

    def caller(self, host: GraphHost, authorization: str | None) -> GraphCaller:
        """The verified caller, or a :class:`GraphError` (401 / 403) saying why not."""
        if not authorization or not authorization.startswith("Bearer ") or not authorization[7:].strip():
            raise _unauthenticated("Access token is empty.")
        token = authorization[7:].strip()
        try:
            claims: dict[str, Any] = self._tokens.verify(token)
        except TokenInvalidError as exc:
            # The reason helps a developer; it never contains the token.
            if "expired" in str(exc):
                raise _unauthenticated("Lifetime validation failed, the token is expired.") from exc
            raise _unauthenticated("Access token validation failure.") from exc
        audience, caller = self._callers.get(token) or self._remember(token, claims)
        if audience.rstrip("/") != host.audience:
            raise _unauthenticated("Access token validation failure. Invalid audience.")
        spec = self._world.tenants.get(caller.tenant_id)  # cloud can change (PATCH /_emulator/tenants)
        if spec is None or spec.cloud not in host.clouds:
            raise GraphError(403, "Forbidden", f"Tenant {caller.tenant_id} is not provisioned in this environment")
        return caller

    def _remember(self, token: str, claims: dict[str, Any]) -> tuple[str, GraphCaller]:
        caller = GraphCaller(
            tenant_id=str(claims.get("tid", "")).lower(),
            app_id=str(claims.get("appid", "")),
            roles=frozenset(claims.get("roles") or ()),
            app_name=str(claims.get("app_displayname") or claims.get("appid", "")),
        )
        if len(self._callers) > 50_000:
            self._callers.clear()
        self._callers[token] = (str(claims.get("aud", "")), caller)
        return self._callers[token]


def require_roles(caller: GraphCaller, any_of: tuple[str, ...]) -> None:
    if caller.roles.intersection(any_of):
        return
    raise GraphError(
        403,
        "Forbidden",
        f"Missing application roles. API required roles: {','.join(any_of)}, "
        f"application roles: {','.join(sorted(caller.roles))}.",
    )
