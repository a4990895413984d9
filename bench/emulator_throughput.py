"""Emulator throughput: simple authenticated GETs per second over keep-alive TLS.

The emulator must never be the bottleneck of a benchmark: the target is >= 2,000 requests/s on a
2-core machine. This starts its own emulator (``running_emulator``), gets real tokens (a managed
identity token for Key Vault, an MDE app token for one alert), turns the Defender rate limits off,
then runs load-generator *processes* (aiohttp clients, many concurrent keep-alive connections) for a
bounded time per route and reports what the emulator served. Installs nothing; loopback only.

    .venv/bin/python -m bench.emulator_throughput [--seconds 10] [--workers 1] [--connections 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from localdev.emulator_process import EmulatorInfo, running_emulator  # noqa: E402

TARGET_PER_SECOND = 2000


async def _load(url: str, token: str, ca_file: str, seconds: float, connections: int) -> dict[str, Any]:
    """One load generator: ``connections`` keep-alive clients hammering ``url`` until the deadline."""
    ctx = ssl.create_default_context(cafile=ca_file)
    statuses: dict[int, int] = {}
    errors = 0
    deadline = time.monotonic() + seconds
    headers = {"Authorization": f"Bearer {token}"}

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        while time.monotonic() < deadline:
            try:
                async with session.get(url, headers=headers) as response:
                    await response.read()
                    statuses[response.status] = statuses.get(response.status, 0) + 1
            except aiohttp.ClientError:
                errors += 1

    connector = aiohttp.TCPConnector(limit=connections, ssl=ctx)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.monotonic()
        await asyncio.gather(*(client(session) for _ in range(connections)))
        elapsed = time.monotonic() - started
    return {"statuses": statuses, "errors": errors, "elapsed": elapsed}


def _worker(args: argparse.Namespace) -> int:
    token = os.environ["BENCH_TOKEN"]  # from the environment, so it never shows in a process list
    result = asyncio.run(_load(args.url, token, args.ca, args.seconds, args.connections))
    print(json.dumps(result), flush=True)
    return 0


def _run_route(name: str, url: str, token: str, info: EmulatorInfo, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--worker", "--url", url, "--ca", info.ca_bundle]
    cmd += ["--seconds", str(args.seconds), "--connections", str(args.connections)]
    env = {**os.environ, "BENCH_TOKEN": token}
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env) for _ in range(args.workers)]
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=args.seconds + 60)
        results.append(json.loads(out.strip().splitlines()[-1]))
    ok = sum(r["statuses"].get("200", 0) for r in results)
    other = {k: v for r in results for k, v in r["statuses"].items() if k != "200"}
    elapsed = max(r["elapsed"] for r in results)
    return {"route": name, "ok": ok, "other_statuses": other, "errors": sum(r["errors"] for r in results),
            "seconds": round(elapsed, 2), "per_second": round(ok / elapsed)}  # fmt: skip


def _tokens(info: EmulatorInfo) -> tuple[str, str, str]:
    """(Key Vault token from the managed identity, MDE token of a healthy tenant, that tenant's id)."""
    import requests

    mi = info.managed_identity
    params = {"api-version": "2019-08-01", "resource": "https://vault.azure.net", "client_id": mi["client_id"]}
    vault = requests.get(
        mi["endpoint"], params=params, headers={"X-IDENTITY-HEADER": mi["header"]}, verify=info.ca_bundle, timeout=10
    ).json()["access_token"]
    tenant = next(t for t in info.tenants if t["cloud"] == "commercial" and t["consent"] == "full")
    app = info.apps["commercial"]
    form = {"grant_type": "client_credentials", "client_id": app["client_id"], "client_secret": app["client_secret"]}
    form["scope"] = "https://api.securitycenter.microsoft.com/.default"
    url = f"{info.login_url()}/{tenant['tenant_id']}/oauth2/v2.0/token"
    mde = requests.post(url, data=form, verify=info.ca_bundle, timeout=10).json()["access_token"]
    return vault, mde, tenant["tenant_id"]


def _alert_url(info: EmulatorInfo, token: str) -> str:
    import requests

    base = info.hosts["api.security.microsoft.com"]
    page = requests.get(
        f"{base}/api/alerts", params={"$top": "1"}, headers={"Authorization": f"Bearer {token}"},
        verify=info.ca_bundle, timeout=10,
    )  # fmt: skip
    page.raise_for_status()
    return f"{base}/api/alerts/{page.json()['value'][0]['id']}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="load time per route (max 120)")
    parser.add_argument("--workers", type=int, default=1, help="load-generator processes")
    # 16 keep-alive connections per process measured best here: more only adds client-side scheduling.
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections per process")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--ca", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.seconds = min(max(args.seconds, 1.0), 120.0)
    if args.worker:
        return _worker(args)
    rows = []
    load_before = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    with running_emulator(scenario="test", seed=1) as info:
        info.control("PUT", "/limits", json={"enabled": False}).raise_for_status()  # measure the server, not 429s
        vault_token, mde_token, _ = _tokens(info)
        secret_url = f"{info.key_vault_url}/secrets/webhook-signing-secret?api-version=7.5"
        rows.append(_run_route("keyvault GET /secrets/{name}", secret_url, vault_token, info, args))
        rows.append(_run_route("mde GET /api/alerts/{id}", _alert_url(info, mde_token), mde_token, info, args))
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())  # other work on the machine skews the numbers
    print(f"cpus={os.cpu_count()} load average before/after=[{load_before}] / [{load}]")
    print(f"workers={args.workers} connections/worker={args.connections} seconds/route={args.seconds}")
    for row in rows:
        print(json.dumps(row))
    worst = min(row["per_second"] for row in rows)
    verdict = "PASS" if worst >= TARGET_PER_SECOND else "FAIL"
    print(f"{verdict}: slowest route {worst} requests/s (target >= {TARGET_PER_SECOND})")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
