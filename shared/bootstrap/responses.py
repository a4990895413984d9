"""Wiring of what answers callers: machine actions, triage, the action and tenants HTTP APIs, and the
retention purge of what they record (docs/http-api.md, docs/soar-integration.md)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from shared.bootstrap.logs import quiet_sdk_http_log
from shared.platform.storage import TENANTS_TABLE

if TYPE_CHECKING:
    from shared.actions.retention import PurgeResult
    from shared.actions.service import ActionService
    from shared.bootstrap.services import Services
    from shared.http.api import HttpApi
    from shared.http.tenants_api import TenantsApi
    from shared.triage.service import TriageService


def action_service(services: Services) -> ActionService:
    from shared.actions.service import ActionService

    return ActionService(
        tenants=services.tenants,  # read on every call: a disable or allow-list change holds at once
        defender=services.defender,
        default_allowed=services.settings.default_allowed_actions,
    )


def triage_service(services: Services) -> TriageService:
    """Graph alert and incident writes and MDE machine tags over the same transport (tokens, limits)."""
    from shared.defender.triage_client import TriageClient
    from shared.triage.service import TriageService

    writes = TriageClient(transport=services.defender.transport)
    return TriageService(graph=writes, machines=services.defender, tags=writes)


def http_api(services: Services, *, verify_signatures: bool = True) -> HttpApi:
    """The action routes. ``verify_signatures=False`` is the operator CLI's: signing and bearer tokens
    authenticate remote callers, and an operator already holds the storage and Key Vault access they
    stand in for (the audit names the operator, ``auth`` ``operator``)."""
    from shared.actions.audit import TABLE as AUDIT_TABLE
    from shared.actions.idempotency import TABLE as IDEMPOTENCY_TABLE
    from shared.actions.idempotency import TableIdempotencyStore
    from shared.callers.authenticator import KeyAuthenticator
    from shared.http.api import HttpApi

    quiet_sdk_http_log()
    services.storage.ensure(tables=(AUDIT_TABLE, IDEMPOTENCY_TABLE))
    return HttpApi(
        service=services.action_service(),
        triage=services.triage_service(),
        audit=services.audit_store(),
        idempotency=TableIdempotencyStore(services.storage.table(IDEMPOTENCY_TABLE)),
        jobs=services.job_queue,
        verifier=services.signature_verifier if verify_signatures else None,
        authenticator=services.caller_authenticator if verify_signatures else KeyAuthenticator("operator"),
        clock=services.clock,
    )


def tenants_api(services: Services) -> TenantsApi:
    """``GET /api/tenants`` and ``/api/tenants/{id}/health``: registry and checkpoints, never Defender."""
    from shared.actions.audit import TABLE as AUDIT_TABLE
    from shared.http.tenants_api import TenantsApi

    services.storage.ensure(tables=(AUDIT_TABLE,))
    return TenantsApi(
        registry=services.tenants,
        checkpoints=services.checkpoints,
        verifier=services.signature_verifier,
        authenticator=services.caller_authenticator,
        audit=services.audit_store(),
    )


def run_purge(services: Services) -> PurgeResult:
    """One retention purge (the purge timer): expired replay and idempotency rows, old audit records."""
    from shared.actions.audit import TABLE as AUDIT_TABLE
    from shared.actions.idempotency import TABLE as IDEMPOTENCY_TABLE
    from shared.actions.retention import RetentionPurge

    quiet_sdk_http_log()
    services.storage.ensure(tables=(AUDIT_TABLE, IDEMPOTENCY_TABLE, TENANTS_TABLE))
    return RetentionPurge(
        idempotency=services.storage.table(IDEMPOTENCY_TABLE),
        audit=services.storage.table(AUDIT_TABLE),
        tenants=services.tenants,
        audit_retention=timedelta(days=services.settings.audit_retention_days),
        clock=services.clock,
    ).run()
