"""Entra ID error answers: the token endpoint's JSON error body, one constructor per row of docs/contracts.md §1.4.

The body is the error response of https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow.
The ``error_description`` carries the ``\\r\\n``-separated Trace ID / Correlation ID / Timestamp lines real
Entra appends; clients (and people) read the AADSTS code from both it and ``error_codes``.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from aiohttp import web

_NO_CACHE = {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"}


class EntraError(Exception):
    """An error the token or discovery endpoint answers with."""

    def __init__(self, status: int, error: str, code: int | None, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.code = code
        self.message = message

    def response(self, *, host: str) -> web.Response:
        trace_id, correlation_id = str(uuid.uuid4()), str(uuid.uuid4())
        timestamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        prefix = f"AADSTS{self.code}: " if self.code is not None else ""
        body: dict[str, object] = {
            "error": self.error,
            "error_description": (
                f"{prefix}{self.message}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}"
                f"\r\nTimestamp: {timestamp}"
            ),
            "error_codes": [self.code] if self.code is not None else [],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
        }
        if self.code is not None:
            body["error_uri"] = f"https://{host}/error?code={self.code}"
        return web.Response(
            status=self.status, text=json.dumps(body), content_type="application/json", headers=_NO_CACHE
        )


# Constructors, one per row of docs/contracts.md §1.4 (codes and messages from Microsoft's AADSTS list,
# https://learn.microsoft.com/entra/identity-platform/reference-error-codes).


def unknown_tenant(tenant: str) -> EntraError:
    return EntraError(
        400,
        "invalid_request",
        90002,
        f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing "
        "into the correct cloud. Check with your subscription administrator, this may happen if there are "
        "no active subscriptions for the tenant.",
    )


def no_tenant_identified() -> EntraError:
    # AADSTS50059 MissingTenantRealmAndNoUserInformationProvided: "Tenant-identifying information was not
    # found in either the request or implied by any provided credentials" (reference-error-codes); what
    # /common and /organizations answer a client-credentials request (an app-only token needs a tenant).
    return EntraError(
        400,
        "invalid_request",
        50059,
        "No tenant-identifying information found in either the request or implied by any provided credentials.",
    )


def conflicting_client_id() -> EntraError:
    # INF: RFC 6749 §2.3 allows one client authentication method per request; Entra's answer is undocumented.
    return EntraError(
        401,
        "invalid_client",
        None,
        "The client_id in the request body is not the one in the Authorization header.",
    )


def cross_cloud(tenant: str) -> EntraError:
    # Inferred, not documented: the tenant exists, but in the other national cloud; Entra refuses
    # confidential clients across clouds with 900382.
    return EntraError(
        400,
        "invalid_request",
        900382,
        f"Confidential Client is not supported in Cross Cloud request. (tenant '{tenant}')",
    )


def app_not_in_tenant(client_id: str, tenant: str) -> EntraError:
    return EntraError(
        400,
        "unauthorized_client",
        700016,
        f"Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can "
        "happen if the application has not been installed by the administrator of the tenant or consented "
        "to by any user in the tenant. You may have sent your authentication request to the wrong tenant.",
    )


def wrong_secret(client_id: str) -> EntraError:
    return EntraError(
        401,
        "invalid_client",
        7000215,
        "Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
        f"value, not the client secret ID, for a secret added to app '{client_id}'.",
    )


def expired_secret(client_id: str) -> EntraError:
    return EntraError(
        401,
        "invalid_client",
        7000222,
        f"The provided client secret keys for app '{client_id}' are expired. Visit the Azure portal to "
        "create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate "
        "credentials for added security: https://aka.ms/certCreds.",
    )


def bad_assertion(reason: str) -> EntraError:
    return EntraError(401, "invalid_client", 700027, f"Client assertion failed signature validation. {reason}")


def no_federated_match(subject: str, audience: str) -> EntraError:
    return EntraError(
        401,
        "invalid_client",
        70021,
        "No matching federated identity record found for presented assertion. "
        f"Assertion Subject: '{subject}'. Assertion Audience: '{audience}'.",
    )


def missing_credential() -> EntraError:
    return EntraError(
        401,
        "invalid_client",
        7000218,
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
    )


def missing_parameter(name: str) -> EntraError:
    return EntraError(
        400, "invalid_request", 900144, f"The request body must contain the following parameter: '{name}'."
    )


def scope_not_default(scope: str) -> EntraError:
    return EntraError(
        400,
        "invalid_scope",
        1002012,
        f"The provided value for scope {scope} is not valid. Client credential flows must have a scope "
        "value with /.default suffixed to the resource identifier (application ID URI).",
    )


def unknown_resource(resource: str, tenant: str) -> EntraError:
    return EntraError(
        400,
        "invalid_resource",
        500011,
        f"The resource principal named {resource} was not found in the tenant named {tenant}. This can "
        "happen if the application has not been installed by the administrator of the tenant or consented "
        "to by any user in the tenant. You might have sent your authentication request to the wrong tenant.",
    )


def unsupported_grant(grant_type: str) -> EntraError:
    return EntraError(
        400, "unsupported_grant_type", 70003, f"The app requested an unsupported grant type '{grant_type}'."
    )


def unavailable() -> EntraError:
    return EntraError(503, "temporarily_unavailable", None, "The service is temporarily unavailable (injected fault).")


def invalid_tenant_discovery(tenant: str) -> EntraError:
    # OIDC discovery names the same AADSTS90002 with error "invalid_tenant", as real discovery answers do
    # (traces in https://github.com/Azure/azure-cli/issues/22145).
    err = unknown_tenant(tenant)
    err.error = "invalid_tenant"
    return err
