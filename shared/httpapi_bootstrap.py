"""Builds the process-wide ``HttpApi`` from the app's ``Services`` (``shared.bootstrap``).

Kept apart from ``shared.bootstrap`` so the HTTP API's parts (audit and idempotency tables, the signing
secret) are only built by the HTTP functions, and so that module stays the ingestion side's.
"""

from __future__ import annotations

from shared.actions.audit import TABLE as AUDIT_TABLE
from shared.actions.audit import TableAuditStore
from shared.actions.idempotency import TABLE as IDEMPOTENCY_TABLE
from shared.actions.idempotency import TableIdempotencyStore
from shared.actions.service import ActionService, CachedTenants
from shared.bootstrap import Services, get_services, quiet_sdk_http_log
from shared.http.api import HttpApi
from shared.http.signing import SignatureVerifier, TableReplayGuard


def build_http_api(services: Services | None = None) -> HttpApi:
    services = services or get_services()
    settings = services.settings
    quiet_sdk_http_log()
    services.storage.ensure(tables=(AUDIT_TABLE, IDEMPOTENCY_TABLE))
    idempotency_table = services.storage.table(IDEMPOTENCY_TABLE)
    verifier = None
    if settings.http_signing_secret_name:
        from shared.platform.secrets import secret_reader_from_settings

        secret = secret_reader_from_settings(settings).get_secret(settings.http_signing_secret_name)
        verifier = SignatureVerifier(secrets=[secret.encode("utf-8")], replay_guard=TableReplayGuard(idempotency_table))
    service = ActionService(
        tenants=CachedTenants(services.tenants),
        defender=services.defender,
        default_allowed=settings.default_allowed_actions,
    )
    return HttpApi(
        service=service,
        audit=TableAuditStore(services.storage.table(AUDIT_TABLE)),
        idempotency=TableIdempotencyStore(idempotency_table),
        jobs=services.job_queue,
        verifier=verifier,
        clock=services.clock,
    )
