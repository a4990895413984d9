"""Defender Vulnerability Management reads: a machine's software and vulnerabilities, and the
software-vulnerabilities export per device.

Pages under https://learn.microsoft.com/defender-endpoint/api/: get-installed-software
(``/api/machines/{machineId}/software``), get-discovered-vulnerabilities (``/api/machines/{machineId}/
vulnerabilities``, 50 calls/min), get-assessment-software-vulnerabilities (``GET /api/machines/
SoftwareVulnerabilitiesByMachine``: "pageSize (default = 50,000)", "Maximum page size is 200,000", "$top:
Number of results to return (doesn't return @odata.nextLink ...)", 30 calls/min and 1,000/hour, next pages
by ``$skiptoken``). What a machine has installed is derived from its id and OS, so it never changes.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from emulator.defender.jsonfmt import ApiError, json_response
from emulator.defender.mde import machine_or_404
from emulator.defender.pipeline import Ctx
from emulator.defender.store import Machine

EXPORT_PAGE_SIZE = 50_000
EXPORT_MAX_PAGE_SIZE = 200_000
_EXPORT_OPTIONS = frozenset({"pagesize", "$top", "$skiptoken"})
_VULNERABILITY_CONTEXT = "Collection(Analytics.Contracts.PublicAPI.PublicVulnerabilityDto)"
_EXPORT_CONTEXT = "Collection(microsoft.windowsDefenderATP.api.AssetVulnerability)"
# (vendor, name, version, [(cve, severity, cvss)]) installed everywhere, then per OS family.
_SOFTWARE: tuple[tuple[str, str, str, tuple[tuple[str, str, float], ...]], ...] = (
    ("microsoft", "edge_chromium-based", "118.0.2088.76", (("CVE-2023-5472", "High", 8.8),)),
    ("google", "chrome", "117.0.5938.132", (("CVE-2023-5217", "High", 8.8), ("CVE-2023-4863", "High", 8.8))),
    ("microsoft", ".net_framework", "4.8.9166.0", ()),
    ("7-zip", "7-zip", "22.01", (("CVE-2023-31102", "High", 7.8),)),
    ("git", "git", "2.39.1", (("CVE-2023-25652", "Medium", 7.5),)),
)
_PUBLISHED = datetime(2023, 1, 1, tzinfo=UTC)


def _installed(machine: Machine) -> list[tuple[str, str, str, tuple[tuple[str, str, float], ...]]]:
    """Two to all five packages of the catalogue, chosen by the machine id."""
    seed = hashlib.sha256(str(machine["id"]).encode()).digest()
    chosen = [sw for i, sw in enumerate(_SOFTWARE) if i < 2 or seed[i] % 2 == 0]
    os_name = str(machine["osPlatform"]).lower()
    return [
        *chosen,
        ("microsoft", os_name, f"{machine['osBuild'] or machine['version']}.3570", (("CVE-2023-36025", "High", 8.8),)),
    ]


async def machine_software(ctx: Ctx) -> web.Response:
    items = []
    for vendor, name, _version, cves in _installed(machine_or_404(ctx)):
        items.append(
            {
                "id": f"{vendor}-_-{name}",
                "name": name,
                "vendor": vendor,
                "weaknesses": len(cves),
                "publicExploit": any(sev == "High" for _, sev, _ in cves),
                "activeAlert": False,
                "exposedMachines": sum(1 for m in ctx.data.machines if any(s[1] == name for s in _installed(m))),
                "impactScore": round(sum(score for *_, score in cves) / 10, 7),
            }
        )
    return json_response({"@odata.context": ctx.context("Software"), "value": items})


async def machine_vulnerabilities(ctx: Ctx) -> web.Response:
    machine = machine_or_404(ctx)
    items = []
    for _vendor, name, _version, cves in _installed(machine):
        for index, (cve, severity, cvss) in enumerate(cves):
            published = _PUBLISHED + timedelta(days=int(cve[-4:]) % 300 + index)
            items.append(
                {
                    "id": cve, "name": cve, "description": f"A vulnerability in {name}.", "severity": severity,
                    "cvssV3": cvss, "exposedMachines": 1, "publishedOn": published, "updatedOn": published,
                    "publicExploit": severity == "High", "exploitVerified": False, "exploitInKit": False,
                    "exploitTypes": [], "exploitUris": [],
                }
            )  # fmt: skip
    return json_response({"@odata.context": ctx.context(_VULNERABILITY_CONTEXT), "value": items})


def _export_rows(ctx: Ctx) -> list[dict[str, Any]]:
    rows = []
    for machine in ctx.data.machines:
        for vendor, name, version, cves in _installed(machine):
            for cve, severity, _ in cves or ((None, None, 0.0),):  # software with no CVE: a row with cveId null
                rows.append(
                    {
                        "id": f"{machine['id']}_{name}_{version}_{cve or ''}_",
                        "deviceId": machine["id"], "rbacGroupName": machine["rbacGroupName"] or "Unassigned",
                        "deviceName": machine["computerDnsName"], "osPlatform": machine["osPlatform"],
                        "osVersion": str(machine["osBuild"] or machine["version"]),
                        "osArchitecture": machine["osProcessor"],
                        "softwareVendor": vendor, "softwareName": name, "softwareVersion": version, "cveId": cve,
                        "vulnerabilitySeverityLevel": severity, "recommendedSecurityUpdate": None,
                        "recommendedSecurityUpdateId": None, "recommendedSecurityUpdateUrl": None,
                        "diskPaths": [], "registryPaths": [],
                        "lastSeenTimestamp": machine["lastSeen"].strftime("%Y-%m-%d %H:%M:%S"),
                        "firstSeenTimestamp": machine["firstSeen"].strftime("%Y-%m-%d %H:%M:%S"),
                        "exploitabilityLevel": "ExploitIsPublic" if severity == "High" else "NoExploit",
                        "recommendationReference": f"va-_-{vendor}-_-{name}",
                        "securityUpdateAvailable": cve is not None,
                    }
                )  # fmt: skip
    return rows


def _export_int(ctx: Ctx, name: str, default: int | None) -> int | None:
    raw = next((v for k, v in ctx.request.rel_url.query.items() if k.lower() == name.lower()), None)
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= EXPORT_MAX_PAGE_SIZE:
        raise ApiError(
            400, "BadRequest", f"{name} must be an integer between 1 and {EXPORT_MAX_PAGE_SIZE}, got '{raw}'"
        )
    return int(raw)


def _skiptoken(raw: str | None) -> int:
    if raw is None:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))["LineStoppedAt"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ApiError(400, "BadRequest", "The $skiptoken is not valid") from exc
    if not isinstance(offset, int) or offset < 0:
        raise ApiError(400, "BadRequest", "The $skiptoken is not valid")
    return offset


async def software_vulnerabilities_by_machine(ctx: Ctx) -> web.Response:
    unknown = sorted(k for k in ctx.request.rel_url.query if k.lower() not in _EXPORT_OPTIONS)
    if unknown:
        raise ApiError(400, "BadRequest", f"Query option '{unknown[0]}' is not supported by this API")
    page_size = _export_int(ctx, "pageSize", EXPORT_PAGE_SIZE) or EXPORT_PAGE_SIZE
    top = _export_int(ctx, "$top", None)
    offset = _skiptoken(ctx.request.rel_url.query.get("$skiptoken"))
    rows = _export_rows(ctx)
    size = top if top is not None else page_size
    body: dict[str, Any] = {"@odata.context": ctx.context(_EXPORT_CONTEXT), "value": rows[offset : offset + size]}
    if top is None and offset + size < len(rows):
        token = base64.urlsafe_b64encode(json.dumps({"LineStoppedAt": offset + size}).encode()).decode().rstrip("=")
        body["@odata.nextLink"] = f"https://{ctx.config.host}{ctx.request.path}?pagesize={page_size}&$skiptoken={token}"
    return json_response(body)
