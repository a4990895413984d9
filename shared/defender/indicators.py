"""The indicators port (``shared.indicators.ports.IndicatorApi``) over the MDE API and ``DefenderTransport``.

Routes, limits and roles from the catalogue (docs/microsoft-apis.md §Indicators): ``GET /api/indicators``
(``$top`` up to 10,000, ``$skip``), ``POST /api/indicators/import`` (``{"Indicators": [...]}``, up to 500,
a result per indicator), ``POST /api/indicators/BatchDelete`` (``{"IndicatorIds": [...]}``, up to 500, 204).
The transport brings the tenant's host, token, retries and the per-(tenant, API) limiter; import and
BatchDelete count against their own 30-calls-a-minute quota (``shared.defender.rate_limit``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from shared.defender.client import Transport
from shared.domain.catalogue import (
    INDICATOR_BATCH_DELETE_PATH,
    INDICATOR_DELETE_MAX,
    INDICATOR_IMPORT_MAX,
    INDICATOR_IMPORT_PATH,
    INDICATOR_LIST_MAX_TOP,
    INDICATOR_ROLE,
    INDICATORS_PATH,
)
from shared.domain.errors import DefenderError
from shared.domain.indicator import Indicator
from shared.domain.indicator_remote import ExistingIndicator, ImportOutcome, existing_from_api
from shared.domain.tenant import Tenant

_ROLES = (INDICATOR_ROLE,)  # Ti.ReadWrite.All satisfies it too (catalogue.missing_roles)


class MdeIndicators:
    """Custom indicators of one tenant through the MDE API; ``owner`` is the partner app id for its cloud."""

    def __init__(self, *, transport: Transport, owner: Callable[[Tenant], str]) -> None:
        self._transport = transport
        self._owner = owner

    def owner(self, tenant: Tenant) -> str:
        return self._owner(tenant)

    def list_indicators(self, tenant: Tenant) -> list[ExistingIndicator]:
        found: list[ExistingIndicator] = []
        pages = self._transport.iter_pages(
            tenant, "mde", INDICATORS_PATH, page_size=INDICATOR_LIST_MAX_TOP, required_roles=_ROLES
        )
        for page in pages:
            found.extend(e for e in map(existing_from_api, page) if e is not None)
        return found

    def import_indicators(self, tenant: Tenant, batch: Sequence[Indicator]) -> list[ImportOutcome]:
        if not 1 <= len(batch) <= INDICATOR_IMPORT_MAX:
            raise ValueError(f"an import takes 1 to {INDICATOR_IMPORT_MAX} indicators, not {len(batch)}")
        body = {"Indicators": [i.to_api() for i in batch]}
        answer = self._transport.request(tenant, "mde", "POST", INDICATOR_IMPORT_PATH, json=body, required_roles=_ROLES)
        results = list(answer.get("value") or [])
        if len(results) != len(batch):
            raise DefenderError(
                f"tenant {tenant.tenant_id}: the import answered {len(results)} results for {len(batch)} indicators",
                tenant_id=tenant.tenant_id,
            )
        # The results come in the order sent (import-ti-indicators example); ``indicator`` echoes the value.
        return [
            ImportOutcome(
                value=indicator.value,
                id=str(result["id"]) if result.get("id") is not None else None,
                failed=bool(result.get("isFailed")),
                reason=str(result.get("failureReason") or ""),
            )
            for indicator, result in zip(batch, results, strict=True)
        ]

    def delete_indicators(self, tenant: Tenant, ids: Sequence[str]) -> None:
        if not 1 <= len(ids) <= INDICATOR_DELETE_MAX:
            raise ValueError(f"a BatchDelete takes 1 to {INDICATOR_DELETE_MAX} ids, not {len(ids)}")
        body = {"IndicatorIds": list(ids)}
        self._transport.request(tenant, "mde", "POST", INDICATOR_BATCH_DELETE_PATH, json=body, required_roles=_ROLES)
