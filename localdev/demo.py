"""``make demo``: the main job end to end, on this machine, in about a minute.

Azurite (real Azure Storage) and the emulator of Entra ID / Defender for Endpoint / Defender XDR /
Microsoft Graph / Key Vault start with a dozen customer tenants. Then, with the real CLI, the real
worker code and the real HTTP functions: register the tenants (most on the Graph feeds, two still on
the retiring MDE/XDR feeds), check them all, sweep while new alerts keep arriving, ask who is ready for
Graph, move one tenant live and another once its admin consented again, sweep until caught up, prove
nothing was lost against the emulator's ground truth, isolate a machine through the HTTP API and
follow it to Succeeded. Nothing printed is canned: every table comes from a real call.

Each step is a function taking a ``DemoWorld`` so ``tests/integration/test_demo.py`` runs the same flow.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from typing import Any, TextIO

from localdev.azurite import AzuriteEndpoints, running_azurite
from localdev.demo_http import call_function, http_functions
from localdev.demo_migration import LEGACY, MigrationReport, produce_other_products, step_migrate, step_report
from localdev.emulator_process import EmulatorInfo, running_emulator
from localdev.reconcile import Reconciliation, consume_events, latest_versions, readable_tenants, reconcile
from localdev.serve_local import relay_environment, write_tenants_file
from shared.bootstrap import Services, use_services
from shared.cli import main as cli_main
from shared.domain.tenant import Tenant
from shared.platform.settings import Settings

PRODUCE_ROUNDS = 2  # sweeps during which the emulator keeps producing alerts (before and after the moves)
MAX_SWEEPS = 6  # bound: production stops after PRODUCE_ROUNDS, catching up takes one or two more
GENERATE = {"tenant_id": "*", "new_alerts": 4, "updates": 3, "ties": 2, "late": 1, "incidents": True}
THROTTLE_SOME = {
    "rules": [{"route": route, "p429": 0.05, "retry_after": 1} for route in ("alerts", "graph-alerts")],
    "seed": 7,
}


@dataclass
class DemoWorld:
    azurite: AzuriteEndpoints
    emulator: EmulatorInfo
    env: dict[str, str]
    workdir: Path
    out: TextIO


@dataclass
class DemoReport:
    check_exit: int = -1
    check_failures: dict[str, str] = field(default_factory=dict)  # tenant name -> status
    sweeps: list[dict[str, int]] = field(default_factory=list)
    caught_up: bool = False
    reconciliation: Reconciliation = field(default_factory=Reconciliation)
    action: dict[str, Any] = field(default_factory=dict)
    health: dict[str, Any] = field(default_factory=dict)
    migration: MigrationReport = field(default_factory=MigrationReport)

    @property
    def ok(self) -> bool:
        moved = self.migration.moved_live_exit == 0 and self.migration.after_consent_exit == 0
        return self.caught_up and self.reconciliation.ok and self.action.get("status") == "Succeeded" and moved


@contextmanager
def demo_world(out: TextIO, *, scenario: str = "demo") -> Iterator[DemoWorld]:
    """Azurite + emulator + the relay's settings in ``os.environ`` (requests, MSAL and azure-identity
    read the CA bundle and the managed identity endpoint from there); everything restored after."""
    with (
        tempfile.TemporaryDirectory(prefix="relay-demo-") as tmp,
        running_azurite() as azurite,
        running_emulator(scenario=scenario) as emulator,
    ):
        env = relay_environment(azurite, emulator, RELAY_SETTLE_SECONDS="0")
        with patched_environ(env):
            yield DemoWorld(azurite, emulator, env, Path(tmp), out)


@contextmanager
def patched_environ(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def say(world: DemoWorld, text: str) -> None:
    world.out.write(text + "\n")


def cli(world: DemoWorld, *args: str, show: bool = True) -> tuple[int, str]:
    """Run the real CLI in-process; echo the command and its output (or capture it with show=False)."""
    buffer = StringIO()
    code = cli_main(list(args), environ=world.env, stdout=buffer, stderr=buffer)
    if show:
        say(world, f"\n$ defender-relay {' '.join(args)}")
        world.out.write(buffer.getvalue())
    return code, buffer.getvalue()


def step_register(world: DemoWorld) -> None:
    say(world, "\n== 1. Register the customer tenants (what a partner does once per customer)")
    say(world, f"   New tenants read Microsoft Graph; {' and '.join(LEGACY)} were registered before, on the")
    say(world, "   MDE/XDR feeds that stop working on 2027-02-01.")
    path = write_tenants_file(world.emulator, world.workdir / "tenants.json", legacy=LEGACY)
    cli(world, "tenants", "import", str(path))
    cli(world, "consent-link")


def step_check(world: DemoWorld, report: DemoReport) -> None:
    say(world, "\n== 2. Which tenants are broken, and what do I tell the customer?")
    say(world, "   For each tenant: an app-only token from its own authority (MSAL), claim checks (tid, aud,")
    say(world, "   roles), then one cheap read per feed and action family on the tenant's own cloud/region.")
    report.check_exit, _ = cli(world, "check", "--all")
    _, text = cli(world, "--json", "tenants", "list", show=False)  # check recorded each tenant's health
    report.check_failures = {t["display_name"]: t["health"] for t in json.loads(text)["tenants"] if t["health"] != "ok"}


def step_sweeps(world: DemoWorld, report: DemoReport, *, title: str, until_caught_up: bool) -> None:
    say(world, title)
    say(world, "   Each round the emulator writes new alerts, updates old ones, some with identical timestamps,")
    say(world, "   some 'late' (timestamped 3 minutes in the past), and Graph-only alerts of other products;")
    say(world, "   5% of alert reads answer 429.")
    world.emulator.control("PUT", "/faults", json=THROTTLE_SOME).raise_for_status()
    rounds = MAX_SWEEPS if until_caught_up else PRODUCE_ROUNDS
    try:
        for number in range(1, rounds + 1):
            produced = _produce(world, number) if number <= PRODUCE_ROUNDS else "production stopped"
            _, text = cli(world, "--json", "sweep", "--once", show=False)
            doc = json.loads(text)
            row = {k: sum(int(t[k]) for t in doc["tenants"]) for k in ("items", "delivered", "repeats", "throttles")}
            report.sweeps.append(row)
            say(world, f"   sweep {number}: {produced:<44} read {row['items']:>4}, delivered {row['delivered']:>4}, "
                f"repeats dropped {row['repeats']:>3}, 429s absorbed {row['throttles']:>2}")  # fmt: skip
            if until_caught_up and number > PRODUCE_ROUNDS and row["delivered"] == 0:
                report.caught_up = True
                break
    finally:
        world.emulator.control("DELETE", "/faults")
    if until_caught_up:
        say(world, "   caught up: the last sweep found nothing new" if report.caught_up else "   NOT caught up")


def _produce(world: DemoWorld, number: int) -> str:
    answer = world.emulator.control("POST", "/generate", json=GENERATE)
    answer.raise_for_status()
    counts = answer.json().values()
    created = sum(int(c.get("alerts_created", 0)) for c in counts)
    updated = sum(int(c.get("alerts_updated", 0)) for c in counts)
    other = produce_other_products(world, number)
    return f"emulator +{created} new (+{other} Graph-only), {updated} updated;"


def step_reconcile(world: DemoWorld, services: Services, report: DemoReport) -> None:
    say(world, "\n== 8. Where did the events go? Sink queue 'defender-events' vs the emulator's ground truth")
    say(world, "   (MDE, XDR and Graph items together: a moved tenant is owed every item's latest version,")
    say(world, "   whichever API delivered it)")
    envelopes, delivered = consume_events(services.storage.queue(services.settings.events_queue))
    truth = world.emulator.control("GET", "/ground-truth").json()
    feeds = {t.tenant_id: t.feeds for t in services.tenants.list()}
    readable = readable_tenants(world.emulator.tenants, feeds)
    result = reconcile(latest_versions(truth, readable), delivered)
    result.delivered_envelopes = envelopes
    report.reconciliation = result
    names = {t["tenant_id"]: t["display_name"] for t in world.emulator.tenants}
    say(world, f"   {'TENANT':<20} {'EXPECTED':>8} {'DELIVERED':>9} {'LOST':>5}")
    for tenant_id, counts in sorted(result.per_tenant.items(), key=lambda kv: names.get(kv[0], kv[0])):
        name = names.get(tenant_id, tenant_id)
        say(world, f"   {name:<20} {counts['expected']:>8} {counts['delivered']:>9} {counts['lost']:>5}")
    unreadable = sorted(n for t, n in names.items() if t not in readable["alert"])
    on_graph = sum(1 for f in feeds.values() if "graph-alerts" in f)
    say(world, f"   {on_graph} of {len(feeds)} tenants read Microsoft Graph now.")
    say(world, f"   {envelopes} envelopes held {result.delivered_versions} item versions (at-least-once, dedup keys).")
    say(world, f"   Not readable by design (no consent / no roles): {', '.join(unreadable) or 'none'}.")
    verdict = "NOTHING LOST" if result.ok else f"LOST {len(result.lost)}: {result.lost[:5]}"
    say(world, f"   {verdict}: every latest alert and incident version of every readable tenant was delivered.")


def step_isolate(world: DemoWorld, services: Services) -> dict[str, Any]:
    say(world, "\n== 9. Isolate a machine through the HTTP function (what a SOAR playbook calls; response")
    say(world, "   actions stay on the MDE API: Graph v1.0 has no app-only machine actions)")
    spec = next(t for t in world.emulator.tenants if t["display_name"] == "Contoso")
    tenant: Tenant = services.tenants.get(spec["tenant_id"])
    machine = services.defender.request(tenant, "mde", "GET", "/api/machines", params={"$top": "1"})["value"][0]
    name = str(machine["computerDnsName"])
    # Real actions take minutes; the emulator's state machine is told to move on within seconds.
    world.emulator.control("PUT", "/actions/timing", json={"pending_seconds": 1, "in_progress_seconds": 1})
    functions = http_functions()
    path = f"tenants/{tenant.tenant_id}/machines/{name}/isolate"
    body = {"comment": "make demo: contain after a high-severity alert", "isolationType": "Full"}
    status, answer = call_function(functions["http_isolate"], "POST", path, body=body)
    action = answer.get("action", {})
    say(world, f"   POST /api/{path}")
    say(world, f"   -> {status}: action {action.get('id')} {action.get('type')} {action.get('status')}")
    status_path = f"tenants/{tenant.tenant_id}/actions/{action.get('id')}"
    status, answer = call_function(
        functions["http_action_status"], "GET", status_path, params={"wait": "true", "waitSeconds": "30"}
    )
    final: dict[str, Any] = dict(answer.get("action") or {})
    say(world, f"   GET /api/{status_path}?wait=true")
    say(world, f"   -> {status}: {final.get('status')} (final: {answer.get('final')})")
    cli(world, "audit", "--tenant", tenant.tenant_id, "--limit", "3")
    return final


def step_health(world: DemoWorld) -> dict[str, Any]:
    say(world, "\n== 10. Health over HTTP (GET /api/tenants/{id}/health) for a broken tenant")
    spec = next(t for t in world.emulator.tenants if t.get("consent") == "none")
    functions = http_functions()
    _, health = call_function(functions["http_tenant_health"], "GET", f"tenants/{spec['tenant_id']}/health")
    error = health.get("error") or {}
    say(world, f"   {health.get('displayName')}: {health.get('status')}\n   remedy: {error.get('remedy')}")
    return dict(health)


def run_main_job(world: DemoWorld) -> DemoReport:
    report = DemoReport()
    services = Services(Settings.from_env(world.env))
    with use_services(services), _http_apis():
        step_register(world)
        step_check(world, report)
        title = "\n== 3. Sweeps (timer -> queue -> worker, run in-process) while alerts keep arriving"
        step_sweeps(world, report, title=title, until_caught_up=False)
        step_report(world, report.migration)
        step_migrate(world, report.migration)
        title = "\n== 7. More sweeps, the moved tenants on Graph now, until caught up"
        step_sweeps(world, report, title=title, until_caught_up=True)
        cli(world, "migrate", "--report")
        step_reconcile(world, services, report)
        report.action = step_isolate(world, services)
        report.health = step_health(world)
        say(world, "\n   Health keeps what each run proved: Proseware's sweeps read its feeds fine, but they do not")
        say(world, "   clear the action roles `check` found missing; the next passing `check` does.")
        cli(world, "tenants", "list")
    return report


@contextmanager
def _http_apis() -> Iterator[None]:
    """The HTTP functions build their API from the installed services; drop them afterwards."""
    from shared.triggers.http import use_http_api
    from shared.triggers.http_tenants import use_tenants_api

    use_http_api(None)
    use_tenants_api(None)
    try:
        yield
    finally:
        use_http_api(None)
        use_tenants_api(None)


def main() -> int:
    started = time.monotonic()
    out = sys.stdout
    out.write("defender-relay demo: starting Azurite and the emulator (12 customer tenants) ...\n")
    with demo_world(out) as world:
        report = run_main_job(world)
    elapsed = time.monotonic() - started
    out.write(f"\n== Done in {elapsed:.0f} s; Azurite and the emulator are stopped.\n")
    out.write(_summary(report))
    return 0 if report.ok else 1


def _summary(report: DemoReport) -> str:
    broken = ", ".join(f"{name} ({status})" for name, status in sorted(report.check_failures.items()))
    r = report.reconciliation
    return (
        f"- check found {len(report.check_failures)} broken tenant(s): {broken}; each with a remedy.\n"
        f"- {len(report.sweeps)} sweep(s): {sum(s['delivered'] for s in report.sweeps)} items delivered, "
        f"{sum(s['repeats'] for s in report.sweeps)} repeats dropped; caught up: {report.caught_up}.\n"
        f"- Graph readiness before the moves: {report.migration.summary}; {report.migration.produced_during_switch} "
        f"alerts written during a live move.\n"
        f"- {r.expected} latest versions expected, {len(r.lost)} lost.\n"
        f"- isolate -> {report.action.get('status')}.\n"
        "Next: `defender-relay --help`, docs/cli.md, and `make test`.\n"
    )


if __name__ == "__main__":
    sys.exit(main())
