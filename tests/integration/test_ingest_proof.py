"""Proof of the ingestion pipeline on real parts: Azurite, the emulator over HTTPS, MSAL, requests.

50 tenants across clouds and regions, sweeps with new, updated, tied and late alerts and incidents in
between: the sink ends up with every version the emulator produced, once per dedup key; a quiet sweep
costs one API call per tenant-feed and no token request. A feed whose lease a dead worker holds is read
as soon as that lease ends, within the same sweep.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from localdev.azurite import AzuriteEndpoints
from localdev.emulator_process import EmulatorInfo
from shared.bootstrap import Services
from shared.ingest.drain import drain
from shared.ingest.runner import JobResult
from tests.integration.ingest_support import (
    add_tenants,
    api_calls_by_tenant_feed,
    counters,
    current_alert_versions,
    delivered_keys,
    ground_truth,
    relay_services,
    sweep_now,
    trusting,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def relay(azurite: AzuriteEndpoints, emulator: EmulatorInfo) -> Iterator[Services]:
    emulator.control("DELETE", "/faults")
    with trusting(emulator):
        yield relay_services(azurite, emulator)


def _generate(emulator: EmulatorInfo, tenant_ids: list[str], **activity: object) -> None:
    for tenant_id in tenant_ids:
        response = emulator.control("POST", "/generate", json={"tenant_id": tenant_id, "incidents": True, **activity})
        assert response.status_code == 200, response.text


def test_three_sweeps_deliver_every_version_exactly_once_and_a_quiet_sweep_costs_one_call(
    relay: Services, emulator: EmulatorInfo
) -> None:
    # GIVEN 50 tenants in every cloud and several regions, both feeds
    tenants = add_tenants(emulator, relay, 50)
    ids = [t.tenant_id for t in tenants]
    activity = [
        {"new_alerts": 4},
        {"new_alerts": 3, "updates": 2, "ties": 3, "late": 1, "late_seconds": 180},
        {"new_alerts": 2, "updates": 3, "ties": 2, "late": 1, "late_seconds": 400},
    ]
    # WHEN three sweeps run, with new, updated, tied and late changes before each
    for batch in activity:
        _generate(emulator, ids, **batch)
        assert sweep_now(relay) == 100
        stats = drain(relay, threads=8, idle_seconds=0.5, max_seconds=120)
        assert stats.failures == 0
        assert stats.statuses["ok"] == 100, (stats.statuses, {r.message for r in stats.results if r.status != "ok"})
    # THEN the sink holds every version of the ground truth exactly once
    got = delivered_keys(relay)
    truth = ground_truth(emulator, ids)
    assert len(truth) > 50 * 9 * 2 // 2
    assert set(got) == truth
    assert [k for k, n in Counter(got).items() if n > 1] == []
    # AND every tenant is healthy
    assert all(relay.tenants.get_health(t).last_success is not None for t in ids)

    # WHEN one more sweep finds nothing new
    emulator.control("DELETE", "/counters")
    sweep_now(relay)
    drain(relay, threads=8, idle_seconds=0.5, max_seconds=60)
    # THEN it cost exactly one API call per tenant-feed and no token request (MSAL's cache is warm)
    calls = api_calls_by_tenant_feed(emulator, ids)
    assert calls == {(t, feed): 1 for t in ids for feed in ("mde-alerts", "xdr-incidents")}
    assert sum(counters(emulator)["token_requests"].get(t, 0) for t in ids) == 0
    assert delivered_keys(relay) == []


def test_jobs_enqueued_while_the_workers_already_drain_are_all_run_and_completed(
    relay: Services, emulator: EmulatorInfo
) -> None:
    # GIVEN workers already draining an empty queue, and a sweep that starts only after their idle time
    tenants = add_tenants(emulator, relay, 12, feeds=frozenset({"mde-alerts"}))
    _generate(emulator, [t.tenant_id for t in tenants], new_alerts=2)
    swept = threading.Event()
    with ThreadPoolExecutor(max_workers=1) as workers:
        running = workers.submit(
            drain, relay, threads=4, idle_seconds=0.3, max_seconds=120, producing=lambda: not swept.is_set()
        )
        time.sleep(1.0)
        # WHEN the sweep enqueues while they run
        assert sweep_now(relay) == 12
        swept.set()
        stats = running.result(timeout=150)
    # THEN they did not stop early: every job ran, and every message was completed (deleted)
    assert stats.statuses["ok"] == 12
    assert stats.failures == 0
    assert relay.storage.queue("tenant-jobs").get_queue_properties().approximate_message_count == 0
    assert len(delivered_keys(relay)) == 24


def test_a_dead_worker_s_lease_holds_its_feed_back_only_until_the_lease_ends_and_no_version_is_lost(
    relay: Services, emulator: EmulatorInfo
) -> None:
    # GIVEN two tenants with new alerts and incidents, and a worker that claimed one feed and died:
    # its lease (8 s here: time for the sweep's job to meet it on a busy machine) is never renewed nor released
    tenants = add_tenants(emulator, relay, 2)
    ids = [t.tenant_id for t in tenants]
    _generate(emulator, ids, new_alerts=3)
    dead = relay.checkpoints.claim(ids[0], "mde-alerts", owner="9999-crashed/job", duration=timedelta(seconds=8))
    offset = (relay.clock() - datetime.now(UTC)).total_seconds()  # the relay's clock follows the emulator's
    # WHEN one sweep runs and the workers drain until the queue is empty (as the Functions host keeps polling)
    runs: list[tuple[JobResult, float]] = []
    assert sweep_now(relay) == 4
    stats = drain(relay, threads=2, idle_seconds=0.5, max_seconds=60, on_result=lambda r, s, _e: runs.append((r, s)))
    # THEN the job that met the dead lease was handed back until the lease ended, then ran: no second sweep needed
    held = [(r, started) for r, started in runs if (r.tenant_id, r.feed) == (ids[0], "mde-alerts")]
    assert [r.status for r, _ in held] == ["lease-held", "ok"], [r.message for r, _ in held]
    assert held[0][0].lease_until == dead.expires_at
    waited = re.search(r"handed back to the queue for (\d+) s", held[0][0].message)
    assert waited is not None
    assert 1 <= int(waited.group(1)) <= 9  # what was left of the 8 s lease, + 1 s
    assert held[1][1] >= dead.expires_at.timestamp() - offset  # started once the lease had ended
    assert (stats.failures, stats.statuses["ok"]) == (0, 4)
    # AND every version the emulator produced was delivered exactly once, and no job is left behind
    got = delivered_keys(relay)
    assert set(got) == ground_truth(emulator, ids)
    assert len(got) == len(set(got))
    assert relay.storage.queue("tenant-jobs").get_queue_properties().approximate_message_count == 0


def test_exactly_the_versions_present_at_a_read_arrive_and_one_overwritten_between_reads_never_does(
    relay: Services, emulator: EmulatorInfo
) -> None:
    # GIVEN three tenants with alerts, read by a first sweep
    tenants = add_tenants(emulator, relay, 3, feeds=frozenset({"mde-alerts"}))
    ids = [t.tenant_id for t in tenants]
    _generate(emulator, ids, new_alerts=4)
    present = current_alert_versions(relay, tenants)
    sweep_now(relay)
    drain(relay, threads=4, idle_seconds=0.5, max_seconds=60)
    # WHEN every alert then changes twice before the next sweep reads it
    for _ in range(2):
        _generate(emulator, ids, updates=100)
    present |= current_alert_versions(relay, tenants)
    sweep_now(relay)
    drain(relay, threads=4, idle_seconds=0.5, max_seconds=60)
    # THEN what arrived is exactly every version present at a read, once each, the latest of every alert included
    got = [k for k in delivered_keys(relay) if "|alert|" in k]
    assert sorted(got) == sorted(present)
    assert current_alert_versions(relay, tenants) <= set(got)
    # AND the versions overwritten between the two reads exist in Defender's history but reached no one
    overwritten = {k for k in ground_truth(emulator, ids, readable_only=False) if "|alert|" in k} - present
    assert len(overwritten) == 12  # each of the 12 alerts' first change
    assert not overwritten & set(got)
