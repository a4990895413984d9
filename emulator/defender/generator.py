"""Realistic machines, alerts and evidence, drawn from a tenant's seeded RNG.

Fields and values follow https://learn.microsoft.com/defender-endpoint/api/alerts and
https://learn.microsoft.com/defender-endpoint/api/machine, with the extra fields real answers carry.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from emulator.defender.store import Alert, Machine, TenantData

_DOTNET_EPOCH = datetime(1, 1, 1, tzinfo=UTC)
# Host names: the first two share a prefix on purpose (a `startswith` filter must not confuse them).
_HOST_NAMES = ("web01", "web01-backup", "dc01", "sql01", "fs01", "hr-laptop-02", "build-agent-7")
_OS: tuple[tuple[str, str, int | None], ...] = (
    ("Windows11", "23H2", 22631), ("Windows10", "22H2", 19045), ("WindowsServer2022", "21H2", 20348),
    ("Windows11", "22H2", 22621), ("Linux", "Ubuntu 22.04", None), ("macOS", "14.4", None),
    ("WindowsServer2019", "1809", 17763), ("Windows10", "21H2", 19044),
)  # fmt: skip
# (healthStatus, onboardingStatus) by machine index: the first three are healthy (tests act on them); then a
# device that lost its connection (actions on it start, then time out), one offline (actions stay pending, then
# time out), one onboarded but sending no sensor data, and a discovered device that is not onboarded
# (values of https://learn.microsoft.com/defender-endpoint/api/machine).
_STATES = (
    ("Active", "Onboarded"), ("Active", "Onboarded"), ("Active", "Onboarded"), ("ImpairedCommunication", "Onboarded"),
    ("Inactive", "Onboarded"), ("NoSensorData", "Onboarded"), ("Inactive", "CanBeOnboarded"), ("Active", "Onboarded"),
)  # fmt: skip
# Tags as operators set them: some machines none, some several, one tag differing only in case.
_TAGS: tuple[tuple[str, ...], ...] = (("ExampleTag", "prod"), (), ("prod",), ("VIP", "ExampleTag"), ("exampletag",))

_DETECTIONS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    # (title, category, detectionSource, mitreTechniques)
    ("Low-reputation arbitrary code executed by signed executable", "Execution", "WindowsDefenderAtp",
     ("T1064", "T1085", "T1220")),
    ("Suspicious PowerShell command line", "Execution", "WindowsDefenderAtp", ("T1059.001",)),
    ("'Mimikatz' credential theft tool", "CredentialAccess", "WindowsDefenderAv", ("T1003",)),
    ("Suspicious process injection observed", "DefenseEvasion", "WindowsDefenderAtp", ("T1055",)),
    ("Ransomware behavior detected in the file system", "Ransomware", "WindowsDefenderAv", ("T1486",)),
    ("Suspicious connection to a known malicious IP", "CommandAndControl", "CustomerTI", ("T1071",)),
    ("An active 'Wacatac' malware was detected", "Malware", "WindowsDefenderAv", ()),
    ("Suspicious scheduled task created", "Persistence", "WindowsDefenderAtp", ("T1053.005",)),
)  # fmt: skip
_SEVERITIES = ("Informational", "Low", "Medium", "High")
_INVESTIGATION_STATES = ("Queued", "Running", "PendingApproval", "Benign", "SuccessfullyRemediated")
EVIDENCE_FIELDS = (
    "entityType", "evidenceCreationTime", "sha1", "sha256", "fileName", "filePath", "processId",
    "processCommandLine", "processCreationTime", "parentProcessId", "parentProcessCreationTime",
    "parentProcessFileName", "parentProcessFilePath", "ipAddress", "url", "registryKey", "registryHive",
    "registryValueType", "registryValue", "registryValueName", "accountName", "domainName", "userSid",
    "aadUserId", "userPrincipalName", "detectionStatus",
)  # fmt: skip


# Every property of a machine and of an alert, in the API's order (what $select may name).
MACHINE_PROPERTIES = (
    "id", "mergedIntoMachineId", "isPotentialDuplication", "isExcluded", "exclusionReason", "computerDnsName",
    "firstSeen", "lastSeen", "osPlatform", "osVersion", "osProcessor", "version", "lastIpAddress",
    "lastExternalIpAddress", "agentVersion", "osBuild", "healthStatus", "deviceValue", "rbacGroupId", "rbacGroupName",
    "riskScore", "exposureLevel", "isAadJoined", "aadDeviceId", "machineTags", "defenderAvStatus", "onboardingStatus",
    "osArchitecture", "managedBy", "managedByStatus", "ipAddresses", "vmMetadata",
)  # fmt: skip
ALERT_PROPERTIES = (
    "id", "incidentId", "investigationId", "assignedTo", "severity", "status", "classification", "determination",
    "investigationState", "detectionSource", "detectorId", "category", "threatFamilyName", "title", "description",
    "alertCreationTime", "firstEventTime", "lastEventTime", "lastUpdateTime", "resolvedTime", "machineId",
    "computerDnsName", "rbacGroupName", "aadTenantId", "threatName", "mitreTechniques", "relatedUser", "comments",
    "evidence",
)  # fmt: skip


def domain_for(display_name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "", display_name.lower()) or "tenant"
    return f"{slug}.local"


def _hex(rng: Any, bits: int) -> str:
    return f"{rng.getrandbits(bits):0{bits // 4}x}"


def make_machine(data: TenantData, index: int, now: datetime) -> Machine:
    rng = data.rng
    host = _HOST_NAMES[index] if index < len(_HOST_NAMES) else f"desktop-{_hex(rng, 28)}"
    os_platform, version, build = _OS[index % len(_OS)]
    health, onboarding = _STATES[index % len(_STATES)]
    subnet = f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}"
    ip = f"{subnet}.{10 + index}"
    first_seen = now - timedelta(days=rng.randint(30, 400), seconds=rng.randint(0, 86_399))
    return {
        "id": _hex(rng, 160),
        "mergedIntoMachineId": None,
        "isPotentialDuplication": False,
        "isExcluded": False,
        "exclusionReason": None,
        "computerDnsName": f"{host}.{data.domain}",
        "firstSeen": first_seen,
        "lastSeen": now - timedelta(minutes=rng.randint(1, 600) * (1 if health == "Active" else 60)),
        "osPlatform": os_platform,
        "osVersion": None,
        "osProcessor": "x64",
        "version": version,
        "lastIpAddress": ip,
        "lastExternalIpAddress": f"203.0.113.{rng.randint(1, 254)}",
        "agentVersion": "10.8760.22621.3880",
        "osBuild": build,
        "healthStatus": health,
        "deviceValue": "Normal",
        "rbacGroupId": 0,
        "rbacGroupName": None,
        "riskScore": rng.choice(("None", "Low", "Medium", "High")),
        "exposureLevel": rng.choice(("Low", "Medium", "High")),
        "isAadJoined": True,
        "aadDeviceId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "machineTags": list(_TAGS[index % len(_TAGS)]),
        "defenderAvStatus": "Updated",
        "onboardingStatus": onboarding,
        "osArchitecture": "64-bit",
        "managedBy": "Intune",
        "managedByStatus": "Success",
        "ipAddresses": [
            {"ipAddress": ip, "macAddress": _hex(rng, 48).upper(), "type": "Ethernet", "operationalStatus": "Up"},
            {"ipAddress": "127.0.0.1", "macAddress": None, "type": "SoftwareLoopback", "operationalStatus": "Up"},
        ],
        "vmMetadata": None,
    }


def alert_id(rng: Any, created: datetime) -> str:
    """``da{.NET ticks}_{number}`` like ``da637472900382838869_1364969609`` (the example id of the alerts page)."""
    ticks = (created - _DOTNET_EPOCH) // timedelta(microseconds=1) * 10
    return f"da{ticks + rng.randint(0, 9)}_{rng.randint(10**9, 2**31 - 1)}"


def make_alert(data: TenantData, machine: Machine, created: datetime, last_update: datetime) -> Alert:
    rng = data.rng
    title, category, source, mitre = rng.choice(_DETECTIONS)
    first_event = created - timedelta(seconds=rng.randint(30, 900), microseconds=rng.randint(0, 999_999))
    user = rng.choice(("alice", "bob", "svc-backup", "admin"))
    return {
        "id": alert_id(rng, created),
        "incidentId": None,
        "investigationId": rng.choice((None, rng.randint(1000, 99_999))),
        "assignedTo": None,
        "severity": rng.choice(_SEVERITIES),
        "status": "New",
        "classification": None,
        "determination": None,
        "investigationState": rng.choice(_INVESTIGATION_STATES),
        "detectionSource": source,
        "detectorId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "category": category,
        "threatFamilyName": "Wacatac" if "Wacatac" in title else None,
        "title": title,
        "description": f"{title} on {machine['computerDnsName']}.",
        "alertCreationTime": created,
        "firstEventTime": first_event,
        "lastEventTime": first_event + timedelta(milliseconds=rng.randint(10, 60_000)),
        "lastUpdateTime": last_update,
        "resolvedTime": None,
        "machineId": machine["id"],
        "computerDnsName": machine["computerDnsName"],
        "rbacGroupName": None,
        "aadTenantId": data.tenant_id,
        "threatName": None,
        "mitreTechniques": list(mitre),
        "relatedUser": {"userName": user, "domainName": data.domain.split(".")[0].upper()},
        "comments": [],
        "evidence": make_evidence(data, machine, created, user),
    }


def make_evidence(data: TenantData, machine: Machine, created: datetime, user: str) -> list[dict[str, Any]]:
    """Evidence objects carry every field of the alerts page, null when unused."""
    rng = data.rng
    items: list[dict[str, Any]] = []
    file_fields = {
        "entityType": "File",
        "sha1": _hex(rng, 160),
        "sha256": _hex(rng, 256),
        "fileName": rng.choice(("payload.exe", "invoice.docm", "update.ps1")),
        "filePath": "C:\\Users\\Public\\Downloads",
        "detectionStatus": rng.choice(("Detected", "Prevented")),
    }
    user_fields = {"entityType": "User", "accountName": user, "domainName": data.domain.split(".")[0].upper()}
    ip_fields = {"entityType": "Ip", "ipAddress": machine["lastExternalIpAddress"]}
    url_fields = {"entityType": "Url", "url": f"http://{rng.choice(('cdn-update', 'login-check'))}.example.net/p"}
    for fields in (file_fields, user_fields, ip_fields, url_fields)[: rng.randint(1, 4)]:
        item = dict.fromkeys(EVIDENCE_FIELDS)
        item.update(fields)
        item["evidenceCreationTime"] = created
        items.append(item)
    return items
