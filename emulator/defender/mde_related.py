"""What an alert relates to, and file profiles: the entities behind an alert's evidence.

Pages under https://learn.microsoft.com/defender-endpoint/api/: get-alert-related-machine-info
(``/api/alerts/{id}/machine``), get-alert-related-files-info (``/files``), get-alert-related-ip-info
(``/ips``), get-alert-related-domain-info (``/domains``), get-alert-related-user-info (``/user``), and
get-file-information (``/api/files/{id}``, "by identifier Sha1, or Sha256"). Each answers 404 when the
alert (or file, machine, user) is not found. File profile values the emulator cannot know (prevalence,
signer, size) are derived from the hash, so every call for one file answers the same.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from emulator.defender.jsonfmt import ApiError, json_response
from emulator.defender.pipeline import Ctx
from emulator.defender.store import Alert, TenantData

_EPOCH = datetime(2019, 1, 1, tzinfo=UTC)
_SIGNERS = (("Microsoft Corporation", "Microsoft Code Signing PCA"), (None, None), ("Contoso Ltd", "DigiCert CA"))


def _alert(ctx: Ctx) -> Alert:
    alert = ctx.data.alerts.get(ctx.args[0])
    if alert is None:
        raise ApiError(404, "ResourceNotFound", f"Alert {ctx.args[0]} was not found")
    return alert


def _evidence(alert: Alert, entity_type: str) -> list[dict[str, Any]]:
    return [e for e in alert["evidence"] if e["entityType"] == entity_type]


def _collection(ctx: Ctx, entity_set: str, items: list[dict[str, Any]]) -> web.Response:
    return json_response({"@odata.context": ctx.context(entity_set), "value": items})


async def alert_machine(ctx: Ctx) -> web.Response:
    """ "If alert not found or device not found - 404 Not Found"."""
    alert = _alert(ctx)
    machine = ctx.data.machine(alert["machineId"])
    if machine is None:
        raise ApiError(404, "ResourceNotFound", f"Machine {alert['machineId']} was not found")
    return json_response({"@odata.context": ctx.context("Machines/$entity"), **machine})


async def alert_files(ctx: Ctx) -> web.Response:
    files = {e["sha1"]: file_profile(e["sha1"], e["sha256"]) for e in _evidence(_alert(ctx), "File") if e["sha1"]}
    return _collection(ctx, "Files", list(files.values()))


async def alert_ips(ctx: Ctx) -> web.Response:
    ips = dict.fromkeys(e["ipAddress"] for e in _evidence(_alert(ctx), "Ip") if e["ipAddress"])
    return _collection(ctx, "Ips", [{"id": ip} for ip in ips])


async def alert_domains(ctx: Ctx) -> web.Response:
    hosts = dict.fromkeys(urlsplit(e["url"]).hostname or e["url"] for e in _evidence(_alert(ctx), "Url") if e["url"])
    return _collection(ctx, "Domains", [{"host": host} for host in hosts])


async def alert_user(ctx: Ctx) -> web.Response:
    """ "If alert or user not found - 404 Not Found"."""
    alert = _alert(ctx)
    related = alert["relatedUser"]
    if not related:
        raise ApiError(404, "ResourceNotFound", f"Alert {alert['id']} has no related user")
    name, domain = str(related["userName"]), str(related["domainName"])
    digest = hashlib.sha256(f"{alert['aadTenantId']}/{domain}/{name}".encode()).digest()
    first_seen = _EPOCH + timedelta(seconds=int.from_bytes(digest[:3], "big") * 60)
    user = {
        "@odata.context": ctx.context("Users/$entity"),
        "id": f"{domain.lower()}\\{name}",
        "accountName": name,
        "accountDomain": domain.lower(),
        "accountSid": "S-1-5-21-" + "-".join(str(int.from_bytes(digest[i : i + 4], "big")) for i in (4, 8, 12)),
        "firstSeen": first_seen,
        "lastSeen": alert["lastEventTime"],
        "mostPrevalentMachineId": alert["machineId"],
        "leastPrevalentMachineId": alert["machineId"],
        "logonTypes": "Network",
        "logOnMachinesCount": 1,
        "isDomainAdmin": name == "admin",
        "isOnlyNetworkUser": False,
    }
    return json_response(user)


def find_file(data: TenantData, file_id: str) -> dict[str, Any] | None:
    """A file the tenant's evidence names, by SHA-1 or SHA-256 (hex, any case)."""
    wanted = file_id.lower()
    for alert in data.alerts.values():
        for evidence in _evidence(alert, "File"):
            if wanted in (evidence["sha1"], evidence["sha256"]):
                return file_profile(evidence["sha1"], evidence["sha256"])
    return None


async def get_file(ctx: Ctx) -> web.Response:
    """ "If file doesn't exist - 404 Not Found" (get-file-information)."""
    profile = find_file(ctx.data, ctx.args[0])
    if profile is None:
        raise ApiError(404, "ResourceNotFound", f"File {ctx.args[0]} was not found")
    return json_response({"@odata.context": ctx.context("Files/$entity"), **profile})


def file_profile(sha1: str, sha256: str) -> dict[str, Any]:
    """The File entity of https://learn.microsoft.com/defender-endpoint/api/files, in the page's field order."""
    digest = bytes.fromhex(sha256)
    first = _EPOCH + timedelta(seconds=int.from_bytes(digest[:3], "big") * 30, microseconds=digest[3] * 3_921)
    signer, issuer = _SIGNERS[digest[4] % len(_SIGNERS)]
    malicious = digest[5] % 2 == 0
    return {
        "sha1": sha1,
        "sha256": sha256,
        "md5": hashlib.md5(digest, usedforsecurity=False).hexdigest(),
        "globalPrevalence": int.from_bytes(digest[6:9], "big") % 200_000,
        "globalFirstObserved": first,
        "globalLastObserved": first + timedelta(days=digest[9] + 1, microseconds=digest[10] * 7_777),
        "size": int.from_bytes(digest[11:14], "big") % 30_000_000 + 1_024,
        "fileType": None,
        "isPeFile": True,
        "filePublisher": signer,
        "fileProductName": None,
        "signer": signer,
        "issuer": issuer,
        "signerHash": hashlib.sha1(digest[:8], usedforsecurity=False).hexdigest() if signer else None,
        "isValidCertificate": signer is not None,
        "determinationType": "Malware" if malicious else "Unknown",
        "determinationValue": "Trojan:Win32/Wacatac.B!ml" if malicious else None,
    }
