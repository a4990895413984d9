"""Clouds and regions: where a tenant signs in, which Defender host serves it, which token scope to ask for.

Facts (docs/microsoft-apis.md §Hosts and token scopes per cloud, docs/contracts.md §1.3):
- Commercial and GCC tenants sign in at login.microsoftonline.com; GCC High and DoD at
  login.microsoftonline.us, with their own app registration (the "usgov" app family) (§US Government).
- Commercial MDE and XDR share the service base URI api.security.microsoft.com, or a regional
  ("geo proximity") host {geo}.api.security.microsoft.com (§Commercial hosts and regions).
- The MDE token audience stays the legacy https://api.securitycenter.microsoft.com even on the new host;
  a wrong audience is answered with 403 (§Token audience and scope; §Known documentation inconsistencies,
  item 9). XDR uses https://api.security.microsoft.com.
- Gov clouds: the API host itself is the resource (§US Government; msticpy/XSOAR practice, not stated by
  Microsoft).
- In v1.0 tokens ``aud`` can be the resource URI or the resource's app id (§Access-token claims), so both
  are accepted.
- Microsoft Graph (§Graph hosts per national cloud; https://learn.microsoft.com/graph/deployments):
  commercial and GCC use https://graph.microsoft.com, GCC High ("US Government L4")
  https://graph.microsoft.us, DoD ("US Government L5") https://dod-graph.microsoft.us; the token scope is
  the host + ``/.default`` (the scope "MUST use the domain of the Microsoft Graph service root endpoint for
  the national cloud deployment", https://learn.microsoft.com/graph/sdks/national-clouds). The alerts_v2
  and incidents pages list all three ("Global service, US Government L4, US Government L5 (DOD)"; not
  China). Graph has no regional hosts: a commercial tenant's region only chooses its MDE/XDR host.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final
from urllib.parse import quote, urlsplit, urlunsplit

from shared.domain.errors import ValidationError


class Cloud(StrEnum):
    COMMERCIAL = "commercial"
    GCC = "gcc"
    GCC_HIGH = "gcc-high"
    DOD = "dod"


class Region(StrEnum):
    AUTO = "auto"
    US = "us"
    EU = "eu"
    UK = "uk"
    AU = "au"
    SWA = "swa"
    INA = "ina"


class AppFamily(StrEnum):
    """Which of the partner's app registrations serves a cloud (GCC High / DoD need their own)."""

    COMMERCIAL = "commercial"
    USGOV = "usgov"


# First-party resource app ids (docs/microsoft-apis.md §Token audience and scope): a v1.0 token's aud may
# carry these instead of the URI.
MDE_RESOURCE_APP_ID = "fc780465-2017-40d4-a0c5-307022471b92"  # WindowsDefenderATP
XDR_RESOURCE_APP_ID = "8ee8fdad-f234-4243-8f3b-15c294843740"  # Microsoft Threat Protection
GRAPH_RESOURCE_APP_ID = "00000003-0000-0000-c000-000000000000"  # Microsoft Graph (the same id in every cloud)

LOGIN_COMMERCIAL = "https://login.microsoftonline.com"
LOGIN_USGOV = "https://login.microsoftonline.us"

_MDE_COMMERCIAL_RESOURCE = "https://api.securitycenter.microsoft.com"
_XDR_COMMERCIAL_RESOURCE = "https://api.security.microsoft.com"
GRAPH_HOSTS: Final = {
    "commercial": "https://graph.microsoft.com",
    "gcc": "https://graph.microsoft.com",
    "gcc-high": "https://graph.microsoft.us",
    "dod": "https://dod-graph.microsoft.us",
}


@dataclass(frozen=True)
class CloudEndpoints:
    """Everything needed to talk to one tenant's cloud. Base URLs have no trailing slash."""

    cloud: Cloud
    region: Region
    family: AppFamily
    login_base: str
    mde_base: str
    xdr_base: str
    mde_resource: str
    xdr_resource: str
    graph_base: str  # also the Graph resource: https://graph.microsoft.com/.default etc.

    @property
    def mde_scope(self) -> str:
        return self.mde_resource + "/.default"

    @property
    def xdr_scope(self) -> str:
        return self.xdr_resource + "/.default"

    @property
    def graph_scope(self) -> str:
        return self.graph_base + "/.default"

    @property
    def mde_audiences(self) -> frozenset[str]:
        return _audiences(self.mde_resource, MDE_RESOURCE_APP_ID)

    @property
    def xdr_audiences(self) -> frozenset[str]:
        return _audiences(self.xdr_resource, XDR_RESOURCE_APP_ID)

    @property
    def graph_audiences(self) -> frozenset[str]:
        return _audiences(self.graph_base, GRAPH_RESOURCE_APP_ID)

    def base_url(self, resource: str) -> str:
        return {"mde": self.mde_base, "xdr": self.xdr_base, "graph": self.graph_base}[_known(resource)]

    def scope(self, resource: str) -> str:
        return {"mde": self.mde_scope, "xdr": self.xdr_scope, "graph": self.graph_scope}[_known(resource)]

    def audiences(self, resource: str) -> frozenset[str]:
        by_resource = {"mde": self.mde_audiences, "xdr": self.xdr_audiences, "graph": self.graph_audiences}
        return by_resource[_known(resource)]

    def authority(self, tenant_id: str) -> str:
        """The tenant's own authority: app-only tokens never come from /common (docs/microsoft-apis.md §MSAL)."""
        return f"{self.login_base}/{tenant_id}"


def _known(resource: str) -> str:
    if resource not in ("mde", "xdr", "graph"):
        raise ValueError(f"unknown API resource {resource!r} (mde, xdr or graph)")
    return resource


def _audiences(resource: str, app_id: str) -> frozenset[str]:
    return frozenset({resource, resource + "/", app_id})


def family_for(cloud: Cloud) -> AppFamily:
    return AppFamily.USGOV if cloud in (Cloud.GCC_HIGH, Cloud.DOD) else AppFamily.COMMERCIAL


def endpoints_for(cloud: Cloud | str, region: Region | str = Region.AUTO) -> CloudEndpoints:
    """Endpoints of a cloud (+ region for commercial). Raises ValidationError naming the bad field."""
    cloud = parse_cloud(cloud)
    region = parse_region(region)
    if cloud is Cloud.COMMERCIAL:
        host = "api.security.microsoft.com" if region is Region.AUTO else f"{region}.api.security.microsoft.com"
        return CloudEndpoints(
            cloud=cloud,
            region=region,
            family=AppFamily.COMMERCIAL,
            login_base=LOGIN_COMMERCIAL,
            mde_base=f"https://{host}",
            xdr_base=f"https://{host}",
            mde_resource=_MDE_COMMERCIAL_RESOURCE,
            xdr_resource=_XDR_COMMERCIAL_RESOURCE,
            graph_base=GRAPH_HOSTS[cloud],
        )
    if region is not Region.AUTO:
        raise ValidationError(
            f"region '{region}' applies to the commercial cloud only; {cloud} tenants use region 'auto'",
            field="region",
        )
    prefix = "api-gcc" if cloud is Cloud.GCC else "api-gov"
    mde = f"https://{prefix}.securitycenter.microsoft.us"
    xdr = f"https://{prefix}.security.microsoft.us"
    family = family_for(cloud)
    return CloudEndpoints(
        cloud=cloud,
        region=region,
        family=family,
        login_base=LOGIN_USGOV if family is AppFamily.USGOV else LOGIN_COMMERCIAL,
        mde_base=mde,
        xdr_base=xdr,
        mde_resource=mde,
        xdr_resource=xdr,
        graph_base=GRAPH_HOSTS[cloud],
    )


def parse_cloud(value: Cloud | str) -> Cloud:
    try:
        return Cloud(str(value).strip().lower())
    except ValueError:
        allowed = ", ".join(c.value for c in Cloud)
        raise ValidationError(f"cloud '{value}' is not one of: {allowed}", field="cloud") from None


def parse_region(value: Region | str) -> Region:
    try:
        return Region(str(value).strip().lower())
    except ValueError:
        allowed = ", ".join(r.value for r in Region)
        raise ValidationError(f"region '{value}' is not one of: {allowed}", field="region") from None


def consent_link(family: AppFamily | str, client_id: str) -> str:
    """The admin-consent link a customer's admin opens (docs/onboarding.md "1. Consent (the customer's admin)");
    US Gov uses its own login host."""
    base = LOGIN_USGOV if AppFamily(family) is AppFamily.USGOV else LOGIN_COMMERCIAL
    return (
        f"{base}/common/oauth2/authorize?prompt=consent&client_id={quote(client_id)}&response_type=code&sso_reload=true"
    )


def rewrite_url(url: str, overrides: Mapping[str, str]) -> str:
    """Send a request for a real Microsoft host to its stand-in (RELAY_HOST_OVERRIDES, dev only).

    ``overrides`` maps a host name to a base URL (the emulator's ``hosts``); the path and query are
    kept, and a path in the base URL is prefixed. Hosts not in the map are returned unchanged.
    """
    if not overrides:
        return url
    parts = urlsplit(url)
    base = overrides.get((parts.hostname or "").lower())
    if base is None:
        return url
    target = urlsplit(base)
    path = target.path.rstrip("/") + parts.path
    return urlunsplit((target.scheme, target.netloc, path, parts.query, parts.fragment))


def is_overridden(url: str, overrides: Mapping[str, str]) -> bool:
    return bool(overrides) and (urlsplit(url).hostname or "").lower() in overrides
