"""The ``make demo`` flow, run as a test on the emulator's small "test" scenario (the same tenant kinds
as the demo with less history): it fails if any event was lost, the sweeps did not catch up, or the
isolate through the HTTP function did not reach Succeeded."""

from __future__ import annotations

from io import StringIO

import pytest

from localdev.demo import demo_world, run_main_job

pytestmark = pytest.mark.integration


def test_the_main_job_loses_nothing_and_isolates_a_machine() -> None:
    out = StringIO()
    with demo_world(out, scenario="test") as world:
        report = run_main_job(world)
    text = out.getvalue()
    # THEN the unhealthy tenants were named with their failure
    assert report.check_exit == 1
    assert report.check_failures == {
        "Alpine Ski House": "not-consented",
        "Proseware": "missing-roles",
        "Trey Research": "not-consented",
    }
    # AND the readiness report named who needs consent before the moves; one tenant moved live, the one that
    # consented before the Graph roles only after its admin consented again
    migration = report.migration
    assert migration.statuses["Wingtip Toys"] == "ready"
    assert migration.statuses["Northwind Traders"] == "needs-consent"
    assert migration.statuses["Contoso"] == "migrated"
    assert migration.summary.endswith("need consent")
    assert (migration.moved_live_exit, migration.not_moved_exit, migration.after_consent_exit) == (0, 1, 0)
    assert migration.produced_during_switch > 0
    # AND the sweeps caught up while the emulator kept producing, with nothing lost across the switch
    assert report.caught_up
    assert report.reconciliation.expected > 0
    assert report.reconciliation.lost == []
    assert len(report.reconciliation.per_tenant) == 10  # every tenant with read access, gov clouds included
    # AND the machine isolated through the HTTP function reached Succeeded, and health is served over HTTP
    assert report.action["status"] == "Succeeded"
    assert report.health["status"] == "not-consented"
    assert "NOTHING LOST" in text
    assert "Traceback" not in text
