"""What the indicator use case needs from the outside: the tenant's indicators API, and an audit trail.

``IndicatorApi`` is the port the MDE adapter (``shared.defender.indicators.MdeIndicators``) satisfies today.
The MDE API retires with MC1220762 (docs/microsoft-apis.md §Indicators); a Graph adapter with the same four
methods replaces it in ``shared.bootstrap`` without a change here (docs/indicators.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from shared.domain.indicator import Indicator
from shared.domain.indicator_remote import ExistingIndicator, ImportOutcome
from shared.domain.tenant import Tenant


class IndicatorApi(Protocol):
    def owner(self, tenant: Tenant) -> str:
        """The ``createdBy`` of what this relay writes in the tenant (its app id in that cloud)."""

    def list_indicators(self, tenant: Tenant) -> list[ExistingIndicator]:
        """Every active indicator the relay can see (with Ti.ReadWrite: only those it created)."""

    def import_indicators(self, tenant: Tenant, batch: Sequence[Indicator]) -> list[ImportOutcome]:
        """Submit or update up to ``INDICATOR_IMPORT_MAX`` indicators in one call; one outcome per indicator."""

    def delete_indicators(self, tenant: Tenant, ids: Sequence[str]) -> None:
        """Delete up to ``INDICATOR_DELETE_MAX`` indicators by id in one call (all or none)."""


class IndicatorAudit(Protocol):
    def record(
        self, tenant_id: str, *, job_id: str, caller: str, kind: str, outcome: str, detail: str, changes: Sequence[str]
    ) -> None:
        """One audit record per tenant and job run that changed (or failed to change) something, naming each
        indicator (``changes``: ``created FileSha256:…``) so the audit trail answers "who blocked this, when"."""
