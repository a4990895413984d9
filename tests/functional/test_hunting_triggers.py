"""The hunting functions as the Functions host indexes and calls them: the hunt-jobs queue trigger, the saved-hunts
timer, and the /api/hunts and /api/hunt-schedules routes over in-memory ports (real ``azure.functions`` objects)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from shared.callers.store import caller_entry
from shared.domain.tenant import Tenant
from shared.http.hunts_api import HuntsApi
from shared.hunting.runner import handle_hunt_message
from shared.hunting.service import HuntService
from shared.triggers.http_hunts import use_hunts_api
from tests.fakes.actions import MemoryAudit
from tests.fakes.entra import SOAR_APP, SOAR_OID, FakeCallers, FakeEntra
from tests.fakes.hunting import FakeSchedules, Hunting
from tests.functional.http_support import call, functions, json_body
from tests.unit.test_hunting_runner import _setup


@dataclass
class HuntHarness:
    hunting: Hunting
    audit: MemoryAudit
    service: HuntService
    ids: list[str]

    def run_jobs(self) -> None:
        for _ in range(100):
            jobs = self.hunting.queue.take()
            if not jobs:
                return
            for job in jobs:
                handle_hunt_message(job.to_json(), deps=self.hunting.deps())


def _harness(*, enabled: bool = True) -> HuntHarness:
    hunting, ids = _setup(3, rows_each=3)
    service = HuntService(
        hunts=hunting.store, results=hunting.results, tenants=hunting.tenants, jobs=hunting.queue,
        schedules=FakeSchedules(), enabled=enabled, clock=hunting.clock,
    )  # fmt: skip
    audit = MemoryAudit()
    use_hunts_api(HuntsApi(service=service, audit=audit, clock=hunting.clock))
    return HuntHarness(hunting, audit, service, ids)


@pytest.fixture
def harness() -> Iterator[HuntHarness]:
    yield _harness()
    use_hunts_api(None)


def test_the_host_indexes_the_hunt_queue_trigger_and_the_saved_hunts_timer() -> None:
    indexed = {name: json.loads(f.get_function_json())["bindings"][0] for name, f in functions().items()}
    assert indexed["hunt_tenant_job"] == {
        "direction": "IN", "type": "queueTrigger", "name": "msg", "queueName": "hunt-jobs",
        "connection": "AzureWebJobsStorage",
    }  # fmt: skip
    assert indexed["start_saved_hunts"]["schedule"] == "%RELAY_HUNT_TIMER_SCHEDULE%"
    assert indexed["start_saved_hunts"]["useMonitor"] is True


def test_a_hunt_is_started_read_and_paged_through_the_registered_functions(harness: HuntHarness) -> None:
    # WHEN a SOAR tool starts a hunt
    started = call("POST", "hunts", body={"query": "DeviceProcessEvents | take 3", "timespan": "P7D"},
                   headers={"X-Relay-Caller": "xsoar"})  # fmt: skip
    # THEN 202 with the hunt's id and where to poll, and the request is audited with the caller and query
    assert started.status_code == 202
    body = json_body(started)
    assert started.headers["Location"] == body["statusUrl"] == f"/api/hunts/{body['huntId']}"
    assert body["tenants"] == 3
    record = harness.audit.records[-1]
    assert (record.tenant_id, record.action, record.caller) == ("_hunts", "hunt", "xsoar")
    assert record.comment == "DeviceProcessEvents | take 3"
    # WHEN the jobs ran THEN the status names every tenant's outcome
    harness.run_jobs()
    status = json_body(call("GET", f"hunts/{body['huntId']}"))
    assert status["state"] == "done"
    assert status["rows"] == 9
    assert {t["state"] for t in status["perTenant"]} == {"done"}
    # AND the results come in CSV pages with a Link to the next one, until every row was read
    rows: list[str] = []
    params = {"format": "csv", "limit": "4"}
    for _ in range(10):
        page = call("GET", f"hunts/{body['huntId']}/results", params=params)
        assert page.status_code == 200
        assert page.mimetype == "text/csv"
        lines = page.get_body().decode().splitlines()
        assert lines[0].startswith("tenantId,tenantName,")
        rows += lines[1:]
        link = page.headers.get("Link")
        if link is None:
            break
        params = {k: v[0] for k, v in parse_qs(urlsplit(link[1 : link.index(">")]).query).items()}
    assert len(rows) == 9
    assert "done: 3 done" in page.headers["X-Relay-Hunt-Status"]


def test_a_hunt_whose_audit_cannot_be_written_is_503_not_a_202_nobody_recorded(harness: HuntHarness) -> None:
    # GIVEN the audit store failing
    harness.audit.fail = True
    # WHEN a SOAR tool starts a hunt
    started = call("POST", "hunts", body={"query": "DeviceProcessEvents | take 3", "timespan": "P7D"})
    # THEN it learns that nothing is confirmed, and when to try again
    assert started.status_code == 503
    assert json_body(started)["type"] == "urn:defender-relay:problem:audit-unavailable"
    assert started.headers["Retry-After"] == "5"
    assert harness.audit.records == []


@pytest.mark.parametrize(
    ("sent", "status", "slug"),
    [
        (("GET", "hunts/nope-nope", {}), 404, "hunt-not-found"),
        (("GET", "hunts/bad!id", {}), 422, "invalid-value"),
        (("POST", "hunts", {"body": {"query": ""}}), 422, "invalid-value"),
        (("POST", "hunts", {"body": {"query": "AlertInfo", "top": 5}}), 422, "invalid-value"),
        (("POST", "hunts", {"body": {"query": "AlertInfo", "tenants": []}}), 422, "invalid-value"),
        (("POST", "hunts", {"body": b"{"}), 400, "malformed-request"),
        (("GET", "hunts/x1/results", {"params": {"format": "xml"}}), 422, "invalid-value"),
        (("GET", "hunts/x1/results", {"params": {"page": "2"}}), 422, "invalid-value"),
        (("POST", "hunt-schedules", {"body": {"name": "n", "query": "AlertInfo", "schedule": "hourly"}}), 422,
         "invalid-value"),
        (("POST", "hunt-schedules/0123456789abcdef/remove", {}), 404, "hunt-not-found"),
    ],
)  # fmt: skip
def test_bad_requests_are_problem_json_naming_what_is_wrong(
    harness: HuntHarness, sent: tuple[str, str, dict[str, object]], status: int, slug: str
) -> None:
    method, path, kwargs = sent
    response = call(method, path, **kwargs)  # type: ignore[arg-type]
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    problem = json_body(response)
    assert problem["type"] == f"urn:defender-relay:problem:{slug}"
    assert problem["detail"]


def test_hunting_switched_off_is_a_403_that_names_the_setting() -> None:
    _harness(enabled=False)
    try:
        response = call("POST", "hunts", body={"query": "AlertInfo"})
    finally:
        use_hunts_api(None)
    assert response.status_code == 403
    assert json_body(response)["type"] == "urn:defender-relay:problem:hunting-disabled"
    assert "RELAY_HUNTING_ENABLED" in json_body(response)["detail"]


def test_a_refused_query_makes_the_results_a_409_with_microsofts_message(harness: HuntHarness) -> None:
    from shared.domain.errors import HuntQueryError

    for tid in harness.ids:
        harness.hunting.api.errors[tid] = HuntQueryError("Query could not be parsed at 'wher'", status=400)
    hunt_id = json_body(call("POST", "hunts", body={"query": "AlertInfo | wher x"}))["huntId"]
    harness.run_jobs()
    response = call("GET", f"hunts/{hunt_id}/results")
    assert response.status_code == 409
    assert "Query could not be parsed at 'wher'" in json_body(response)["detail"]
    assert json_body(call("GET", f"hunts/{hunt_id}"))["state"] == "failed"


def test_saved_hunts_are_added_listed_and_removed(harness: HuntHarness) -> None:
    added = call("POST", "hunt-schedules", body={"name": "certutil", "query": "DeviceProcessEvents",
                                                 "schedule": "0 0 * * * *", "timespan": "PT2H"})  # fmt: skip
    assert added.status_code == 201
    saved = json_body(added)
    assert saved["tenants"] == "all"
    listed = json_body(call("GET", "hunt-schedules"))
    assert [s["scheduleId"] for s in listed["schedules"]] == [saved["scheduleId"]]
    removed = call("POST", f"hunt-schedules/{saved['scheduleId']}/remove")
    assert removed.status_code == 200
    assert json_body(call("GET", "hunt-schedules"))["count"] == 0
    assert [r.action for r in harness.audit.records] == ["hunt-schedule-add", "hunt-schedule-remove"]


def test_every_schedule_a_timer_binds_is_set_wherever_the_host_runs() -> None:
    # GIVEN the timers as the host indexes them (their schedules are %SETTING% references)
    from localdev.serve_local import local_settings
    from tests.unit.bicep_model import REPO, app_setting_names

    schedules = {
        binding["schedule"].strip("%")
        for f in functions().values()
        for binding in json.loads(f.get_function_json())["bindings"]
        if binding["type"] == "timerTrigger"
    }
    assert schedules == {"RELAY_SWEEP_SCHEDULE", "RELAY_HUNT_TIMER_SCHEDULE", "RELAY_PURGE_SCHEDULE"}
    # THEN Azure (whatever the parameters), local.settings.sample.json and serve-local's settings all set them
    sample = json.loads((REPO / "local.settings.sample.json").read_text(encoding="utf-8"))["Values"]
    assert schedules <= app_setting_names(always=True)
    assert schedules <= {name for name, value in sample.items() if value}
    assert schedules <= {name for name, value in local_settings({})["Values"].items() if value}


class _Registry:
    def __init__(self, hunting: Hunting) -> None:
        self._hunting = hunting

    def list(self, *, enabled_only: bool = False) -> list[Tenant]:
        return [t for t in self._hunting.tenants.tenants.values() if t.enabled or not enabled_only]


def test_a_scoped_entra_caller_hunts_saves_and_reads_only_in_its_tenants() -> None:
    # GIVEN three tenants, the first tagged emea, and a caller with Relay.Hunt scoped to emea
    h = _harness()
    emea, other, _third = h.ids
    h.hunting.tenants.tenants[emea] = replace(h.hunting.tenants.tenants[emea], tags=frozenset({"emea"}))
    entra = FakeEntra()
    callers = FakeCallers(caller_entry(SOAR_OID, tags=["emea"]))
    service_api = HuntsApi(service=h.service, audit=h.audit, clock=h.hunting.clock,
                           authenticator=entra.authenticator(callers), tenants=_Registry(h.hunting))  # fmt: skip
    use_hunts_api(service_api)

    def send(method: str, path: str, body: dict[str, object] | None = None, *roles: str) -> Any:
        headers = {"Authorization": f"Bearer {entra.token(roles=list(roles or ('Relay.Hunt',)))}"}
        return call(method, path, body=body or b"", headers=headers)

    try:
        # WHEN it hunts in "all" THEN the hunt reaches its one tenant
        started = send("POST", "hunts", {"query": "DeviceProcessEvents | take 3"})
        assert (started.status_code, json_body(started)["tenants"]) == (202, 1)
        h.run_jobs()
        status = json_body(send("GET", f"hunts/{json_body(started)['huntId']}"))
        assert [t["tenantId"] for t in status["perTenant"]] == [emea]
        # AND naming another tenant, or lacking Relay.Hunt, is refused on the record
        assert send("POST", "hunts", {"query": "DeviceEvents | take 1", "tenants": [other]}).status_code == 403
        assert send("POST", "hunts", {"query": "DeviceEvents | take 1"}, "Relay.Read").status_code == 403
        assert [r.status for r in h.audit.records if r.caller_app_id == SOAR_APP][-2:] == [403, 403]
        # AND a saved hunt for "all" names its tenants, so the timer cannot take it further
        saved = json_body(send("POST", "hunt-schedules", {"name": "daily", "query": "DeviceEvents | take 1",
                                                           "schedule": "0 0 6 * * *"}))  # fmt: skip
        assert saved["tenants"] == [emea]
        # AND an operator's hunt over every tenant is not the scoped caller's to read or list
        use_hunts_api(HuntsApi(service=h.service, audit=h.audit, clock=h.hunting.clock))
        everyone = json_body(call("POST", "hunts", body={"query": "DeviceEvents | take 1"}))["huntId"]
        call(
            "POST", "hunt-schedules", body={"name": "all", "query": "DeviceEvents | take 1", "schedule": "0 0 7 * * *"}
        )
        use_hunts_api(service_api)
        assert send("GET", f"hunts/{everyone}").status_code == 403
        assert send("GET", f"hunts/{everyone}/results").status_code == 403
        assert [s["name"] for s in json_body(send("GET", "hunt-schedules"))["schedules"]] == ["daily"]
    finally:
        use_hunts_api(None)
