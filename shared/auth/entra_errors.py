"""Entra ID failures as typed errors that name the tenant and say what to do.

The error body and AADSTS codes: docs/microsoft-apis.md §Token errors and AADSTS codes; the relay's matrix:
docs/contracts.md §1.4.

Messages carry AADSTS codes and setting names, never a secret, an assertion or a token.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.domain.catalogue import API_NAMES, ApiResource
from shared.domain.clouds import CloudEndpoints, consent_link
from shared.domain.errors import (
    AuthError,
    CredentialError,
    MissingRolesError,
    NotConsentedError,
    TokenServiceError,
    UnknownTenantError,
    WrongCloudError,
)
from shared.domain.tenant import Tenant
from shared.platform.settings import AppSettings

_CREDENTIAL_CODES = {7000215, 7000222, 700027, 7000218, 700024, 7000274}
_TRANSIENT_ERRORS = {"temporarily_unavailable", "server_error"}


def auth_error_from_result(  # noqa: PLR0911 - one return per documented AADSTS case reads best
    result: Mapping[str, Any], *, tenant: Tenant, app: AppSettings, endpoints: CloudEndpoints
) -> AuthError:
    """Map an MSAL error dict to the error type the caller acts on."""
    codes = {int(c) for c in result.get("error_codes") or () if str(c).isdigit()}
    error = str(result.get("error", ""))
    if 700016 in codes:
        return not_consented_error(tenant, app)
    if 90002 in codes:
        return unknown_tenant_error(tenant, endpoints)
    if 900382 in codes:
        return wrong_cloud_error(tenant, endpoints)
    if 500011 in codes:
        # The Defender resource (WindowsDefenderATP / Microsoft Threat Protection) has no service principal
        # in the tenant: Defender is not provisioned there. Like missing consent it is the customer's to fix
        # and retrying will not help, so callers treat it the same way: NotConsentedError, own remedy.
        return NotConsentedError(
            f"tenant {tenant.tenant_id} ({tenant.display_name}): the Defender API is not provisioned in this tenant "
            "(AADSTS500011)",
            tenant_id=tenant.tenant_id,
            remedy="the customer must have Microsoft Defender for Endpoint / XDR licensed and set up, "
            "or disable this feed for the tenant",
        )
    if codes & _CREDENTIAL_CODES or error == "invalid_client":
        code = min(codes & _CREDENTIAL_CODES, default=None)
        return credential_error(tenant, app, f"Entra ID rejected it ({'AADSTS' + str(code) if code else error})")
    if error in _TRANSIENT_ERRORS or not error:
        return TokenServiceError(
            f"tenant {tenant.tenant_id}: Entra ID is unavailable ({error or 'no answer'})",
            tenant_id=tenant.tenant_id,
            remedy="transient: the job is retried",
        )
    code_text = ", ".join(f"AADSTS{c}" for c in sorted(codes)) or error
    return AuthError(
        f"tenant {tenant.tenant_id}: token request failed ({error}; {code_text})",
        tenant_id=tenant.tenant_id,
        remedy="see the AADSTS code in the Entra ID error reference",
    )


def not_consented_error(tenant: Tenant, app: AppSettings) -> NotConsentedError:
    link = consent_link(app.family, app.client_id)
    return NotConsentedError(
        f"tenant {tenant.tenant_id} ({tenant.display_name}): the partner app {app.client_id} is not consented "
        "in this tenant (AADSTS700016)",
        tenant_id=tenant.tenant_id,
        remedy=f"a Global Administrator of the tenant must grant admin consent: {link}",
    )


def no_roles_error(tenant: Tenant, app: AppSettings, resource: ApiResource = "mde") -> NotConsentedError:
    """A token without roles: never consented, or (for Graph) consented before the partner app asked for
    the Graph permissions, which a customer must consent to again (docs/onboarding.md "Re-consent")."""
    link = consent_link(app.family, app.client_id)
    api = API_NAMES[resource]
    return NotConsentedError(
        f"tenant {tenant.tenant_id} ({tenant.display_name}): admin consent not granted for the {api} "
        "application permissions (the token has no roles)",
        tenant_id=tenant.tenant_id,
        remedy=f"a Global Administrator of the tenant must grant admin consent (again, if the partner app has "
        f"asked for new permissions since): {link}",
    )


def missing_roles_error(
    tenant: Tenant, resource: ApiResource, missing: list[str], app: AppSettings
) -> MissingRolesError:
    api = API_NAMES[resource]
    link = consent_link(app.family, app.client_id)
    return MissingRolesError(
        f"tenant {tenant.tenant_id} ({tenant.display_name}): the token lacks {', '.join(missing)}",
        tenant_id=tenant.tenant_id,
        missing=missing,
        remedy=f"add the {api} application permission(s) {', '.join(missing)} to the partner app and have "
        f"the tenant's admin consent again: {link}",
    )


def credential_error(tenant: Tenant, app: AppSettings, why: str) -> CredentialError:
    return CredentialError(
        f"tenant {tenant.tenant_id}: the {app.family} partner app credential ({app.setting_prefix}_CREDENTIAL) "
        f"is not valid: {why}",
        tenant_id=tenant.tenant_id,
        remedy=f"renew the credential named by {app.setting_prefix}_CREDENTIAL (or check "
        f"{app.setting_prefix}_CLIENT_ID); this affects every tenant of the {app.family} app",
    )


def unknown_tenant_error(tenant: Tenant, endpoints: CloudEndpoints) -> UnknownTenantError:
    return UnknownTenantError(
        f"tenant {tenant.tenant_id} ({tenant.display_name}) was not found on {endpoints.login_base} "
        f"({endpoints.cloud} cloud, AADSTS90002)",
        tenant_id=tenant.tenant_id,
        remedy="check the tenant id, and the tenant's cloud in the registry (commercial/gcc vs gcc-high/dod)",
    )


def wrong_cloud_error(tenant: Tenant, endpoints: CloudEndpoints) -> WrongCloudError:
    return WrongCloudError(
        f"tenant {tenant.tenant_id} ({tenant.display_name}) is not in the {endpoints.cloud} cloud it is "
        "registered with (AADSTS900382)",
        tenant_id=tenant.tenant_id,
        remedy="set the tenant's cloud to where it lives (commercial/gcc vs gcc-high/dod)",
    )
