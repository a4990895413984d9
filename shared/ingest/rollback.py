"""``migrate --rollback``: move a tenant's Graph feeds back to their MDE/XDR predecessors, until those retire.

The reverse of ``shared.ingest.migration`` with the same guarantees (docs/operations.md "Rolling a tenant
back"), for the weeks before the MDE and XDR APIs stop on 2027-02-01 (MC1220762):

1. Refused from 2027-02-01 (UTC): the old feeds would read nothing.
2. Readiness (``shared.tenants.readiness.assess_rollback``): the MDE / XDR tokens carry ``Alert.Read.All`` /
   ``Incident.Read.All`` and one read of each predecessor answers. Otherwise the tenant is not moved.
3. ``switch_feeds``: the Graph leases are taken (a job running: not moved), each predecessor's checkpoint
   starts at the Graph cursor with the Graph feed's delivered keys as ``handover`` (so the MDE feed drops
   the versions Graph delivered inside the overlap: an MDE alert's ``id`` is the Graph ``providerAlertId``,
   an XDR ``incidentId`` the Graph incident ``id``), the registry switches, the Graph leases are held.

``graph-alerts`` carries every Defender product's alerts (``serviceSource``); ``/api/alerts`` only Defender
for Endpoint's. Rolling back stops the others (Office 365, Identity, Cloud Apps, Defender for Cloud, ...):
the result says so (``stops``) unless the tenant's ``service_sources`` already limit Graph to Endpoint.
"""

from __future__ import annotations

from shared.domain.catalogue import MDE_XDR_RETIREMENT, rolled_back, successors
from shared.domain.tenant import Tenant
from shared.ingest.migration import MigrationDeps, MigrationResult, planned, switch_feeds
from shared.tenants.readiness import Readiness, assess_rollback

ENDPOINT_SOURCE = "microsoftDefenderForEndpoint"  # the serviceSource of the alerts /api/alerts also serves


def retirement_refusal(deps: MigrationDeps) -> str:
    """Why no rollback is possible any more ("" while it still is)."""
    today = deps.clock().date()
    if today < MDE_XDR_RETIREMENT:
        return ""
    return (
        f"the MDE and XDR APIs retired on {MDE_XDR_RETIREMENT} (MC1220762): mde-alerts and xdr-incidents read "
        "nothing any more, so there is nothing to roll back to"
    )


def graph_only_alerts(tenant: Tenant) -> str:
    """What rolling back stops: the alerts of ``graph-alerts`` that the MDE API never serves ("" for none)."""
    if "graph-alerts" not in tenant.feeds:
        return ""
    sources = tenant.service_sources
    if sources is None:
        return "alerts of Defender products other than Endpoint (Office 365, Identity, Cloud Apps, ...) stop"
    others = sorted(sources - {ENDPOINT_SOURCE})
    return f"alerts with serviceSource {', '.join(others)} stop" if others else ""


def rollback_tenant(tenant: Tenant, *, deps: MigrationDeps, dry_run: bool = False) -> MigrationResult:
    refusal = retirement_refusal(deps)
    if refusal:
        readiness = Readiness(tenant, "failing", message=refusal, direction="rollback")
        return MigrationResult(tenant, "not-moved", readiness, message=refusal, action="stay on the Graph feeds")
    readiness = assess_rollback(tenant, tokens=deps.tokens, reader=deps.reader)
    result = MigrationResult(tenant, "not-moved", readiness, message=readiness.message, action=readiness.action)
    result.target = rolled_back(tenant.feeds)
    if readiness.status == "not-on-graph":
        result.outcome, result.action = "nothing-to-do", ""
        return result
    if readiness.status != "ready":
        return result
    result.stops = graph_only_alerts(tenant)
    leaving = successors(tenant.feeds)
    if dry_run:
        return planned(tenant, deps, result, leaving, "roll back")
    return switch_feeds(tenant, deps, result, leaving, result.target)
