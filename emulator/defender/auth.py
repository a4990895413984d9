"""Who may call which Defender host: bearer token, audience, tenant cloud/region, roles.

A missing, expired or badly signed token is 401 and a valid token without the permission 403
(https://learn.microsoft.com/defender-endpoint/api/common-errors). A token for another resource (wrong
``aud``) is 403 even on the right host (the tip in
https://learn.microsoft.com/defender-endpoint/api/run-advanced-query-sample-python). A missing
application role is 403 with "The application does not have any of the required application
permissions (…)", the text real answers carry. docs/contracts.md §1.3 adds the emulator's cloud and
region rules (a tenant is served only by hosts of its own cloud, and by the global host or its own
region's host).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emulator.defender.jsonfmt import ApiError
from emulator.entra.tokens import TokenInvalidError, TokenService
from emulator.world import CloudName, Resource, World

MDE_AUDIENCE = {
    "commercial": "https://api.securitycenter.microsoft.com",
    "gcc": "https://api-gcc.securitycenter.microsoft.us",
    "gov": "https://api-gov.securitycenter.microsoft.us",
}
XDR_AUDIENCE = {
    "commercial": "https://api.security.microsoft.com",
    "gcc": "https://api-gcc.security.microsoft.us",
    "gov": "https://api-gov.security.microsoft.us",
}
# The MDE docs also show the WindowsDefenderATP App ID URI as a scope
# (https://learn.microsoft.com/defender-endpoint/api/exposed-apis-create-app-webapp).
_MDE_ALIASES = {
    "commercial": ("https://securitycenter.onmicrosoft.com/windowsatpservice",),
    "gcc": ("https://securitycenter.onmicrosoft.com/windowsatpservice",),
    "gov": ("https://securitycenter.onmicrosoft.us/windowsatpservice",),
}


@dataclass(frozen=True)
class HostConfig:
    """One emulated API host, precomputed once so the request path does no string work."""

    host: str
    clouds: frozenset[CloudName]
    region: str  # "auto" for a global host
    resources: frozenset[Resource]  # which APIs this host serves
    audiences: dict[Resource, frozenset[str]]


def _config(host: str, clouds: tuple[CloudName, ...], region: str, resources: tuple[Resource, ...]) -> HostConfig:
    family = "commercial" if clouds == ("commercial",) else "gcc" if clouds == ("gcc",) else "gov"
    audiences: dict[Resource, frozenset[str]] = {
        "mde": frozenset((MDE_AUDIENCE[family], *_MDE_ALIASES[family])),
        "xdr": frozenset((XDR_AUDIENCE[family],)),
    }
    return HostConfig(host, frozenset(clouds), region, frozenset(resources), audiences)


def host_configs() -> dict[str, HostConfig]:
    """Every Defender host of docs/contracts.md §1.2/§1.3."""
    both: tuple[Resource, ...] = ("mde", "xdr")
    configs = [
        _config("api.securitycenter.microsoft.com", ("commercial",), "auto", ("mde",)),  # legacy: MDE only
        _config("api.security.microsoft.com", ("commercial",), "auto", both),
        *(
            _config(f"{region}.api.security.microsoft.com", ("commercial",), region, both)
            for region in ("us", "eu", "uk", "au", "swa", "ina")
        ),
        _config("api-gcc.securitycenter.microsoft.us", ("gcc",), "auto", ("mde",)),
        _config("api-gcc.security.microsoft.us", ("gcc",), "auto", both),
        _config("api-gov.securitycenter.microsoft.us", ("gcc-high", "dod"), "auto", ("mde",)),
        _config("api-gov.security.microsoft.us", ("gcc-high", "dod"), "auto", both),
    ]
    return {config.host: config for config in configs}


@dataclass(frozen=True)
class Caller:
    tenant_id: str
    app_id: str
    app_name: str
    roles: frozenset[str]


class Authorizer:
    def __init__(self, world: World, tokens: TokenService) -> None:
        self._world = world
        self._tokens = tokens
        # token -> (aud, caller): a token is presented many times; expiry is still checked each time.
        self._callers: dict[str, tuple[str, Caller]] = {}

    def caller(self, config: HostConfig, resource: Resource, authorization: str | None) -> Caller:
        """The verified caller, or an :class:`ApiError` (401 / 403) saying why not."""
        if not authorization or not authorization.startswith("Bearer "):
            raise ApiError(
                401, "Unauthorized", "Unauthorized: the Authorization header is missing or not a Bearer token"
            )
        token = authorization[7:].strip()
        try:
            claims: dict[str, Any] = self._tokens.verify(token)
        except TokenInvalidError as exc:
            # The reason (expired, bad signature) helps a developer; it never contains the token.
            reason = "expired" if "expired" in str(exc) else "invalid"
            raise ApiError(401, "Unauthorized", f"Unauthorized: the access token is {reason}") from exc
        audience, caller = self._callers.get(token) or self._remember(token, claims)
        if audience not in config.audiences[resource]:
            raise ApiError(
                403, "Forbidden", f"Forbidden: the token audience {audience!r} is not valid for this resource"
            )
        # The tenant's cloud and region can change (PATCH /_emulator/tenants): checked on every call.
        spec = self._world.tenants.get(caller.tenant_id)
        if spec is None or spec.cloud not in config.clouds or config.region not in ("auto", spec.region):
            raise ApiError(403, "Forbidden", f"Tenant {caller.tenant_id} is not provisioned in this environment")
        return caller

    def _remember(self, token: str, claims: dict[str, Any]) -> tuple[str, Caller]:
        caller = Caller(
            tenant_id=str(claims.get("tid", "")).lower(),
            app_id=str(claims.get("appid", "")),
            app_name=str(claims.get("app_displayname") or claims.get("appid", "")),
            roles=frozenset(claims.get("roles") or ()),
        )
        if len(self._callers) > 50_000:
            self._callers.clear()
        self._callers[token] = (str(claims.get("aud", "")), caller)
        return self._callers[token]


def require_roles(caller: Caller, any_of: tuple[str, ...]) -> None:
    if not any_of or caller.roles.intersection(any_of):
        return
    raise ApiError(
        403,
        "Forbidden",
        f"The application does not have any of the required application permissions ({', '.join(any_of)}) "
        "to access the resource",
    )
