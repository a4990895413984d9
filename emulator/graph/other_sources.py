"""Alerts that only Graph serves: the other Defender products' alerts, grouped into their own incidents.

"Every Defender product's alerts come through alerts_v2" (``serviceSource``,
https://learn.microsoft.com/graph/api/resources/security-alert), but the MDE API serves MDE alerts only. These
records let a client test its ``serviceSource`` filter, an ``id`` that differs from ``providerAlertId``, and the
evolvable members (``microsoftDefenderForCloud``, ``microsoftDefenderForServers``, incident status
``awaitingAction``) that only ``Prefer: include-unknown-enum-members`` reveals. They are made by
``POST /_emulator/graph/generate`` (docs/contracts.md §1.7). The emulator does not list them on the XDR API.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from emulator.defender.aging import shifted
from emulator.defender.store import Readability, TenantData, Version, after
from emulator.graph import enums
from emulator.graph.views import Rendered, render

# serviceSource -> (id prefix, default detectionSource, title, category). The prefixes are the emulator's
# choice (inferred from ids seen in Graph answers); an MDE alert's id starts with "da".
SOURCES: dict[str, tuple[str, str, str, str]] = {
    "microsoftDefenderForOffice365": (
        "fa", "microsoftDefenderForOffice365", "Email messages containing malicious URL removed after delivery",
        "InitialAccess",
    ),
    "microsoftDefenderForIdentity": (
        "aa", "microsoftDefenderForIdentity", "Suspected DCSync attack (replication of directory services)",
        "CredentialAccess",
    ),
    "microsoftDefenderForCloudApps": ("ca", "cloudAppSecurity", "Impossible travel activity", "InitialAccess"),
    "microsoft365Defender": (
        "ed", "microsoft365Defender", "Suspicious sign-in followed by mailbox rule creation", "Persistence",
    ),
    "azureAdIdentityProtection": ("ad", "azureAdIdentityProtection", "Anonymous IP address", "InitialAccess"),
    "microsoftAppGovernance": (
        "ag", "appGovernanceDetection", "App with suspicious OAuth scope made graph calls", "Collection",
    ),
    "dataLossPrevention": (
        "dl", "microsoftDataLossPrevention", "DLP policy match for document sharing", "Exfiltration",
    ),
    "microsoftDefenderForCloud": (
        "dc", "microsoftDefenderForServers", "Suspicious process executed on a virtual machine", "Execution",
    ),
}  # fmt: skip
_SEVERITY_RANK = {"informational": 1, "low": 2, "medium": 3, "high": 4}
_PORTAL = "https://security.microsoft.com"


@dataclass
class OtherIncident:
    record: dict[str, Any]  # already in the Graph shape
    alert_ids: list[str] = field(default_factory=list)


@dataclass
class OtherData:
    alerts: dict[str, Rendered] = field(default_factory=dict)
    incidents: dict[int, OtherIncident] = field(default_factory=dict)


@dataclass
class OtherVersion(Version):
    provider_id: str = ""
    service_source: str = ""


def _times(now: datetime, count: int, ties: int) -> list[datetime]:
    """``count`` increasing write times ending at ``now``; the last ``ties`` of them share one value."""
    times = [now - timedelta(milliseconds=7 * (count - 1 - index)) for index in range(count)]
    tied = min(ties, count)
    if tied > 1:
        times[count - tied :] = [times[count - tied]] * tied
    return times


class OtherSources:
    def __init__(self) -> None:
        self._tenants: dict[str, OtherData] = {}
        self.alert_versions: list[OtherVersion] = []
        self.incident_versions: list[OtherVersion] = []
        self._readability = Readability()

    def age(self, seconds: float) -> None:
        """Move every time stamp ``seconds`` into the past (``POST /_emulator/time/advance``, aging.py)."""
        delta = timedelta(seconds=seconds)
        for other in self._tenants.values():
            for alert_id, rendered in other.alerts.items():
                other.alerts[alert_id] = render(shifted(rendered.record, delta), enums.EVOLVABLE_ALERT_FIELDS)
            for incident in other.incidents.values():
                incident.record = shifted(incident.record, delta)
        for version in (*self.alert_versions, *self.incident_versions):  # in place: Readability holds them too
            version.last_update -= delta

    def data(self, tenant_id: str) -> OtherData:
        return self._tenants.setdefault(tenant_id.lower(), OtherData())

    def generate(self, data: TenantData, now: datetime, options: dict[str, Any]) -> dict[str, int]:
        """New alerts of one product in one new incident, and updates of earlier ones, at the emulated now."""
        other = self.data(data.tenant_id)
        new, updates, ties = options["new_alerts"], options["updates"], options["ties"]
        to_update = data.rng.sample(sorted(other.alerts), min(updates, len(other.alerts)))
        stamps = _times(now, new + len(to_update), ties)
        incident = self._new_incident(data, options, now) if new else None
        changed: set[int] = set()
        for stamp in stamps[:new]:
            assert incident is not None
            record = self._new_alert(data, options, incident, stamp)
            incident.alert_ids.append(record["id"])
            self._record_alert(data, other, record)
        for alert_id, stamp in zip(to_update, stamps[new:], strict=True):
            record = self._progress(other.alerts[alert_id].record, stamp)
            self._record_alert(data, other, record)
            changed.add(int(record["incidentId"]))
        if incident is not None:
            changed.add(int(incident.record["id"]))
        for number in changed:
            self._refresh(data, other, other.incidents[number], now)
        return {"alerts_created": new, "alerts_updated": len(to_update), "incidents_changed": len(changed)}

    def _new_incident(self, data: TenantData, options: dict[str, Any], now: datetime) -> OtherIncident:
        number = data.next_incident_id  # one id space with the XDR incidents of the tenant
        data.next_incident_id += 1
        title = SOURCES[options["service_source"]][2]
        record = {
            "@odata.type": "#microsoft.graph.security.incident", "id": str(number),
            "incidentWebUrl": f"{_PORTAL}/incidents/{number}?tid={data.tenant_id}", "tenantId": data.tenant_id,
            "redirectIncidentId": None, "displayName": f"{title} reported by one source", "createdDateTime": now,
            "lastUpdateDateTime": now, "assignedTo": None, "classification": "unknown", "determination": "unknown",
            "status": options["incident_status"], "severity": "low", "customTags": [], "comments": [],
            "systemTags": [], "description": None,
        }  # fmt: skip
        incident = OtherIncident(record)
        self.data(data.tenant_id).incidents[number] = incident
        return incident

    def _new_alert(
        self, data: TenantData, options: dict[str, Any], incident: OtherIncident, stamp: datetime
    ) -> dict[str, Any]:
        source = options["service_source"]
        prefix, detection, title, category = SOURCES[source]
        provider_id = str(uuid.UUID(int=data.rng.getrandbits(128), version=4))
        alert_id = prefix + provider_id.replace("-", "")
        created = stamp - timedelta(milliseconds=data.rng.randint(100, 2_000))
        user = data.rng.choice(("alice", "bob", "admin"))
        number = incident.record["id"]
        return {
            "@odata.type": "#microsoft.graph.security.alert", "id": alert_id, "providerAlertId": provider_id,
            "incidentId": number, "status": "new", "severity": data.rng.choice(("low", "medium", "high")),
            "classification": "unknown", "determination": "unknown", "serviceSource": source,
            "detectionSource": options.get("detection_source") or detection,
            "detectorId": str(uuid.UUID(int=data.rng.getrandbits(128), version=4)), "tenantId": data.tenant_id,
            "title": title, "description": f"{title} ({user}@{data.domain}).",
            "recommendedActions": "Investigate the user.", "category": category, "assignedTo": None,
            "alertWebUrl": f"{_PORTAL}/alerts/{alert_id}?tid={data.tenant_id}",
            "incidentWebUrl": incident.record["incidentWebUrl"], "actorDisplayName": None, "threatDisplayName": None,
            "threatFamilyName": None, "mitreTechniques": [], "createdDateTime": created, "lastUpdateDateTime": stamp,
            "resolvedDateTime": None, "firstActivityDateTime": created - timedelta(minutes=3),
            "lastActivityDateTime": created - timedelta(minutes=1), "comments": [],
            "evidence": [_user_evidence(user, data.domain, created)], "systemTags": [],
        }  # fmt: skip

    @staticmethod
    def _progress(record: dict[str, Any], stamp: datetime) -> dict[str, Any]:
        changed = copy.deepcopy(record)
        changed["status"] = {"new": "inProgress", "inProgress": "resolved"}.get(record["status"], record["status"])
        if changed["status"] == "resolved" and changed["resolvedDateTime"] is None:
            changed.update(resolvedDateTime=stamp, classification="truePositive", determination="compromisedUser")
        changed["lastUpdateDateTime"] = after(record["lastUpdateDateTime"], stamp)  # versions only move forward
        return changed

    def record_alert_change(self, data: TenantData, record: dict[str, Any], now: datetime) -> None:
        """A write through Graph (emulator/graph/writes.py): a new version of the alert; its incident follows."""
        other = self.data(data.tenant_id)
        self._record_alert(data, other, record)
        self._refresh(data, other, other.incidents[int(record["incidentId"])], now)

    def record_incident_change(self, data: TenantData, number: int, record: dict[str, Any]) -> None:
        incident = self.data(data.tenant_id).incidents[number]
        incident.record = record
        self._record_incident_version(data, record)

    def _record_alert(self, data: TenantData, other: OtherData, record: dict[str, Any]) -> None:
        other.alerts[record["id"]] = render(record, enums.EVOLVABLE_ALERT_FIELDS)
        version = OtherVersion(
            data.tenant_id,
            record["id"],
            record["lastUpdateDateTime"],
            provider_id=record["providerAlertId"],
            service_source=record["serviceSource"],
        )
        self.alert_versions.append(self._readability.written(data, "alert", version))

    def _record_incident_version(self, data: TenantData, record: dict[str, Any]) -> None:
        version = OtherVersion(data.tenant_id, record["id"], record["lastUpdateDateTime"], provider_id=record["id"])
        self.incident_versions.append(self._readability.written(data, "incident", version))

    def _refresh(self, data: TenantData, other: OtherData, incident: OtherIncident, now: datetime) -> None:
        """Severity, status and lastUpdateDateTime follow the alerts; each change is a new incident version."""
        alerts = [other.alerts[i].record for i in incident.alert_ids]
        record = incident.record
        record["severity"] = max((a["severity"] for a in alerts), key=_SEVERITY_RANK.__getitem__)
        if all(a["status"] == "resolved" for a in alerts):
            record["status"] = "resolved"
        newest: datetime = max(a["lastUpdateDateTime"] for a in alerts)
        record["lastUpdateDateTime"] = newest if newest > record["lastUpdateDateTime"] else now
        self._record_incident_version(data, record)


def _user_evidence(user: str, domain: str, created: datetime) -> dict[str, Any]:
    account = {"accountName": user, "domainName": domain.split(".", maxsplit=1)[0].upper(), "userSid": None,
               "azureAdUserId": None, "userPrincipalName": f"{user}@{domain}", "displayName": user}  # fmt: skip
    return {
        "@odata.type": "#microsoft.graph.security.userEvidence", "createdDateTime": created, "verdict": "suspicious",
        "remediationStatus": "none", "remediationStatusDetails": None, "roles": ["compromised"],
        "detailedRoles": [], "tags": [], "userAccount": account,
    }  # fmt: skip
