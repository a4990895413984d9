"""Chaos: Defender and Entra ID faults plus worker crashes between delivery and checkpoint.

Injected: 10 % 429, 5 % 503, 2 % connection resets, 1 % slow answers on the feeds; 20 % token endpoint
failures; 15 % of checkpoint writes "crash" (the worker dies after delivering, before the checkpoint).
Zero versions may be lost, repeats must carry identical dedup keys and payloads, and once the faults
stop the run converges to exactly the ground truth.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest

from localdev.azurite import AzuriteEndpoints
from localdev.emulator_process import EmulatorInfo
from shared.bootstrap import Services
from shared.domain.checkpoint import Checkpoint, Claim
from shared.ingest.checkpoint_table import CheckpointStore
from shared.ingest.drain import drain
from tests.integration.ingest_support import (
    add_tenants,
    delivered_items,
    ground_truth,
    relay_services,
    sweep_now,
    trusting,
)

pytestmark = pytest.mark.integration


class WorkerCrashError(Exception):
    """Stands for the process dying: delivered, but the checkpoint write never happens."""


class CrashingCheckpoints:
    """The real store, except that some checkpoint writes "crash" before they reach storage."""

    def __init__(self, inner: CheckpointStore, probability: float, seed: int = 7) -> None:
        self._inner = inner
        self._probability = probability
        self._rng = random.Random(seed)
        self.crashes = 0

    def get(self, tenant_id: str, feed: str) -> Checkpoint:
        return self._inner.get(tenant_id, feed)

    def claim(self, tenant_id: str, feed: str, *, owner: str, duration: timedelta) -> Claim:
        return self._inner.claim(tenant_id, feed, owner=owner, duration=duration)

    def renew(self, claim: Claim, *, duration: timedelta) -> Claim:
        return self._inner.renew(claim, duration=duration)

    def save(self, claim: Claim, checkpoint: Checkpoint, *, duration: timedelta) -> Claim:
        self._maybe_crash()
        return self._inner.save(claim, checkpoint, duration=duration)

    def release(self, claim: Claim, checkpoint: Checkpoint | None = None) -> None:
        if checkpoint is not None:
            self._maybe_crash()
        self._inner.release(claim, checkpoint)

    def _maybe_crash(self) -> None:
        if self._rng.random() < self._probability:
            self.crashes += 1
            raise WorkerCrashError("simulated crash between delivery and checkpoint")


@pytest.fixture
def relay(azurite: AzuriteEndpoints, emulator: EmulatorInfo) -> Iterator[Services]:
    with trusting(emulator):
        yield relay_services(azurite, emulator)
    emulator.control("DELETE", "/faults")


CHAOS = {
    "rules": [
        {
            "route": "alerts",
            "p429": 0.10,
            "p503": 0.05,
            "preset": 0.02,
            "pslow": 0.01,
            "slow_seconds": 1.0,
            "retry_after": 1,
        },
        {
            "route": "incidents",
            "p429": 0.10,
            "p503": 0.05,
            "preset": 0.02,
            "pslow": 0.01,
            "slow_seconds": 1.0,
            "retry_after": 1,
        },
        {"route": "token", "p503": 0.20},
    ],
    "latency_ms": 0,
    "seed": 11,
}


def test_faults_and_crashes_lose_nothing_and_the_run_converges(relay: Services, emulator: EmulatorInfo) -> None:
    tenants = add_tenants(emulator, relay, 16)
    ids = [t.tenant_id for t in tenants]
    crashing = CrashingCheckpoints(relay.ingest_deps.checkpoints, probability=0.15)
    chaotic = replace(relay.ingest_deps, checkpoints=crashing)
    # GIVEN faults everywhere
    assert emulator.control("PUT", "/faults", json=CHAOS).status_code == 200
    # WHEN two rounds of activity are swept and drained under chaos
    for activity in ({"new_alerts": 5}, {"new_alerts": 3, "updates": 3, "ties": 2, "late": 1}):
        for tenant_id in ids:
            emulator.control("POST", "/generate", json={"tenant_id": tenant_id, "incidents": True, **activity})
        sweep_now(relay)
        drain(relay, deps=chaotic, threads=8, idle_seconds=1.0, max_seconds=90, retry_delay=1, max_dequeue_count=50)
    faults = emulator.control("GET", "/counters").json()["faults"]
    # AND the faults stop, and one more sweep runs
    emulator.control("DELETE", "/faults")
    sweep_now(relay)
    drain(relay, threads=8, idle_seconds=0.5, max_seconds=60)
    # THEN the chaos really happened
    assert crashing.crashes > 0
    assert any("429" in kind for kind in faults), faults
    assert any("token" in kind for kind in faults), faults
    # AND no version is lost, and nothing unknown was delivered
    items = delivered_items(relay)
    assert {key for key, _ in items} == ground_truth(emulator, ids)
    # AND a repeat is the same item: identical dedup key and payload
    payloads: dict[str, set[str]] = defaultdict(set)
    for key, digest in items:
        payloads[key].add(digest)
    assert all(len(digests) == 1 for digests in payloads.values())
    assert len(items) > len(payloads)  # the crashes did cause repeats
