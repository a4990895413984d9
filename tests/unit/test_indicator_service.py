"""The indicator use case against an in-memory indicators API: the plan, batching by the documented
per-call limits, idempotent re-push, sync removing only the relay's own, the cap, Defender's refusals."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.domain.errors import IndicatorCapError
from shared.domain.indicator import Indicator, parse_indicators
from shared.domain.tenant import Tenant
from shared.indicators.service import IndicatorService, Work
from tests.fakes.indicators import OWNER, FakeIndicatorApi, FakeIndicatorAudit

NOW = datetime(2026, 12, 1, tzinfo=UTC)
TENANT = Tenant("11111111-1111-1111-1111-111111111111", "Contoso")


def hashes(count: int, *, title: str = "bad file", start: int = 1) -> list[Indicator]:
    rows = [
        (f"line {n}", {"indicatorValue": f"{n:064x}", "indicatorType": "FileSha256", "action": "Block",
                       "title": title, "description": "from the SOC"})
        for n in range(start, start + count)
    ]  # fmt: skip
    return parse_indicators(rows, now=NOW)


def service(api: FakeIndicatorApi, audit: FakeIndicatorAudit | None = None, **kw: int) -> IndicatorService:
    return IndicatorService(api=api, audit=audit or FakeIndicatorAudit(), **kw)


def test_a_push_is_batched_by_the_import_limit_and_a_second_push_writes_nothing() -> None:
    # GIVEN 1,200 indicators (the import API takes 500 a call)
    api, audit = FakeIndicatorApi(), FakeIndicatorAudit()
    wanted = hashes(1200)
    # WHEN they are pushed THEN one list and three imports create all of them, audited per indicator
    result = service(api, audit).run(TENANT, Work("job1", "push", indicators=wanted))
    assert (result.status, result.created, api.calls["list"], api.calls["import"]) == ("done", 1200, 1, 3)
    assert len(audit.records) == 1
    assert len(audit.records[0]["changes"]) == 1200
    assert audit.records[0]["changes"][0] == f"create FileSha256:{1:064x}"
    assert audit.records[0]["detail"] == "create 1200, update 0, remove 0"
    # WHEN the same set is pushed again THEN it is one list call, no import, and no audit record
    again = service(api, audit).run(TENANT, Work("job2", "push", indicators=wanted))
    assert (again.created, again.updated, again.unchanged) == (0, 0, 1200)
    assert (api.calls["list"], api.calls["import"], len(audit.records)) == (2, 3, 1)


def test_a_changed_setting_is_an_update_naming_the_field() -> None:
    api = FakeIndicatorApi()
    service(api).run(TENANT, Work("j", "push", indicators=hashes(3)))
    result = service(api).run(TENANT, Work("j2", "push", indicators=hashes(3, title="renamed")))
    assert (result.updated, result.unchanged) == (3, 0)
    assert result.details["update"][0].endswith("(title)")
    assert {r["title"] for r in api.records[TENANT.tenant_id].values()} == {"renamed"}


def test_sync_removes_only_the_relays_own_and_never_touches_someone_elses() -> None:
    # GIVEN the relay's indicators 2..5, and two made by a portal user: 1 (a value the baseline wants) and 99
    api = FakeIndicatorApi()
    service(api).run(TENANT, Work("j", "push", indicators=hashes(4, start=2)))
    api.add(TENANT.tenant_id, hashes(1, start=1, title="the analyst's own")[0])
    api.add(TENANT.tenant_id, hashes(1, start=99)[0])
    writes = (api.calls["import"], api.calls["delete"])
    # WHEN a baseline of values 1..3 is planned (dry run) THEN nothing is written and the plan says what would be
    baseline = hashes(3)
    plan = service(api).run(TENANT, Work("d", "sync", dry_run=True, indicators=baseline))
    assert (plan.status, plan.created, plan.removed, plan.unchanged, plan.conflicts) == ("planned", 0, 2, 2, 1)
    assert (api.calls["import"], api.calls["delete"]) == writes
    assert plan.details["conflict"] == [f"FileSha256:{1:064x} (created by analyst@customer.example)"]
    # WHEN it is applied THEN the relay's 4 and 5 go, the user's two stay (value 1 is reported, not changed)
    done = service(api).run(TENANT, Work("s", "sync", indicators=baseline))
    assert (done.removed, done.conflicts) == (2, 1)
    values = api.values(TENANT.tenant_id)
    assert values == {f"{n:064x}" for n in (1, 2, 3, 99)}
    assert "the analyst's own" in {r["title"] for r in api.records[TENANT.tenant_id].values()}


def test_remove_by_value_deletes_the_relays_match_in_one_batch_delete() -> None:
    api = FakeIndicatorApi()
    service(api).run(TENANT, Work("j", "push", indicators=hashes(3)))
    api.add(TENANT.tenant_id, hashes(1, start=7)[0])  # a user's
    targets = [[("FileSha256", f"{n:064x}")] for n in (1, 2, 7, 8)]
    result = service(api).run(TENANT, Work("r", "remove", targets=targets))
    assert (result.removed, result.conflicts, result.absent, api.calls["delete"]) == (2, 1, 1, 1)
    assert api.values(TENANT.tenant_id) == {f"{3:064x}", f"{7:064x}"}


def test_a_push_over_the_cap_is_refused_with_the_count_before_any_write() -> None:
    api = FakeIndicatorApi()
    for indicator in hashes(8):
        api.add(TENANT.tenant_id, indicator)
    with pytest.raises(IndicatorCapError) as caught:
        service(api, max_active=10).run(TENANT, Work("j", "push", indicators=hashes(3, start=50)))
    assert (caught.value.active, caught.value.adding, caught.value.limit) == (8, 3, 10)
    assert "has 8 active indicators" in caught.value.message
    assert api.calls["import"] == 0
    # AND a sync that removes enough first fits
    assert service(api, max_active=10).run(TENANT, Work("j", "push", indicators=hashes(2, start=50))).created == 2


def test_defenders_refusal_of_one_indicator_is_reported_with_its_reason() -> None:
    api, audit = FakeIndicatorApi(refuse={f"{2:064x}": "The tenant has reached the limit"}), FakeIndicatorAudit()
    result = service(api, audit).run(TENANT, Work("j", "push", indicators=hashes(3)))
    assert (result.created, result.failed) == (2, 1)
    assert result.details["failed"] == [f"FileSha256:{2:064x}: The tenant has reached the limit"]
    # AND the audit holds the plan, written before the import, and then the refusal with its reason
    assert [r["outcome"] for r in audit.records] == ["accepted", "failed"]
    assert audit.records[1]["changes"] == [f"failed FileSha256:{2:064x}: The tenant has reached the limit"]


def test_ownership_is_the_app_id_whatever_its_case() -> None:
    api = FakeIndicatorApi()
    api.add(TENANT.tenant_id, hashes(1)[0], created_by=OWNER.upper())
    mine, others = service(api).inventory(TENANT)
    assert (len(mine), others) == (1, 0)


def test_an_indicator_of_ours_changed_in_the_portal_is_brought_back_and_only_the_change_counts() -> None:
    # GIVEN one of the relay's indicators whose action someone set to a legacy value in the portal, and whose
    # expiration Defender writes with seven fractional digits
    (wanted,) = parse_indicators([("line 2", {"indicatorValue": "a" * 64, "indicatorType": "FileSha256",
                                              "action": "Block", "title": "t", "description": "d",
                                              "expirationTime": "2027-01-01T00:00:00Z"})], now=NOW)  # fmt: skip
    api = FakeIndicatorApi()
    service(api).run(TENANT, Work("j", "push", indicators=[wanted]))
    record = next(iter(api.records[TENANT.tenant_id].values()))
    record.update(action="AlertAndBlock", expirationTime="2027-01-01T00:00:00.0000000Z")
    # WHEN the set is pushed again THEN the one field that differs is updated
    result = service(api).run(TENANT, Work("j2", "push", indicators=[wanted]))
    assert (result.updated, result.details["update"]) == (1, [f"FileSha256:{'a' * 64} (action)"])
    assert record["action"] == "Block"
