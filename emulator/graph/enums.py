"""Graph security enums: the Defender values they come from, and the evolvable members a client only sees
with ``Prefer: include-unknown-enum-members``.

Members and the evolvable lists are those of https://learn.microsoft.com/graph/api/resources/security-alert
(alertStatus, alertSeverity, alertClassification, alertDetermination, serviceSource, detectionSource) and
https://learn.microsoft.com/graph/api/resources/security-incident (incidentStatus). "You must use the
``Prefer: include-unknown-enum-members`` request header to get the following value(s) in this evolvable enum"
(same pages); without it those members come back as the sentinel ``unknownFutureValue``
(https://learn.microsoft.com/graph/best-practices-concept#handling-future-members-in-evolvable-enumerations).
"""

from __future__ import annotations

from collections.abc import Mapping

SENTINEL = "unknownFutureValue"
PREFER_UNKNOWN = "include-unknown-enum-members"

ALERT_STATUS = ("unknown", "new", "inProgress", "resolved", SENTINEL)
SEVERITY = ("unknown", "informational", "low", "medium", "high", SENTINEL)
CLASSIFICATION = ("unknown", "falsePositive", "truePositive", "informationalExpectedActivity", SENTINEL)
DETERMINATION = (
    "unknown", "apt", "malware", "securityPersonnel", "securityTesting", "unwantedSoftware", "other",
    "multiStagedAttack", "compromisedUser", "phishing", "maliciousUserActivity", "clean", "insufficientData",
    "confirmedUserActivity", "lineOfBusinessApplication", SENTINEL,
)  # fmt: skip
SERVICE_SOURCE = (
    "unknown", "microsoftDefenderForEndpoint", "microsoftDefenderForIdentity", "microsoftDefenderForCloudApps",
    "microsoftDefenderForOffice365", "microsoft365Defender", "azureAdIdentityProtection", "microsoftAppGovernance",
    "dataLossPrevention", SENTINEL, "microsoftDefenderForCloud",
)  # fmt: skip
DETECTION_SOURCE = (
    "unknown", "microsoftDefenderForEndpoint", "antivirus", "smartScreen", "customTi",
    "microsoftDefenderForOffice365", "automatedInvestigation", "microsoftThreatExperts", "customDetection",
    "microsoftDefenderForIdentity", "cloudAppSecurity", "microsoft365Defender", "azureAdIdentityProtection", "manual",
    "microsoftDataLossPrevention", "appGovernancePolicy", "appGovernanceDetection", SENTINEL,
    "microsoftDefenderForCloud", "microsoftDefenderForIoT", "microsoftDefenderForServers",
    "microsoftDefenderForStorage", "microsoftDefenderForDNS", "microsoftDefenderForDatabases",
    "microsoftDefenderForContainers", "microsoftDefenderForNetwork", "microsoftDefenderForAppService",
    "microsoftDefenderForKeyVault", "microsoftDefenderForResourceManager", "microsoftDefenderForApiManagement",
)  # fmt: skip
INCIDENT_STATUS = ("active", "resolved", "inProgress", "redirected", SENTINEL, "awaitingAction")


def evolvable(members: tuple[str, ...]) -> frozenset[str]:
    """The members listed after the sentinel: the ones hidden without the Prefer header."""
    return frozenset(members[members.index(SENTINEL) + 1 :])


# field -> members a client sees as unknownFutureValue unless it sent the Prefer header
EVOLVABLE_ALERT_FIELDS: Mapping[str, frozenset[str]] = {
    "serviceSource": evolvable(SERVICE_SOURCE),
    "detectionSource": evolvable(DETECTION_SOURCE),
}
EVOLVABLE_INCIDENT_FIELDS: Mapping[str, frozenset[str]] = {"status": evolvable(INCIDENT_STATUS)}

# MDE / XDR spellings whose Graph member is not simply the camelCase of the name.
_SPECIAL: Mapping[str, str] = {
    "UnSpecified": "unknown",
    "NotAvailable": "unknown",
    "ConfirmedActivity": "confirmedUserActivity",  # the update-alert page's name for ConfirmedUserActivity
    "NotMalicious": "clean",  # the update-alert page's name for Clean
    # The XDR update page's word for "not enough data", which Graph's alertDetermination calls insufficientData.
    "NoEnoughDataToValidate": "insufficientData",
}
# MDE detectionSource (https://learn.microsoft.com/defender-endpoint/api/alerts) -> Graph detectionSource
DETECTION_SOURCES: Mapping[str, str] = {
    "WindowsDefenderAtp": "microsoftDefenderForEndpoint",
    "WindowsDefenderAv": "antivirus",
    "WindowsDefenderSmartScreen": "smartScreen",
    "CustomerTI": "customTi",
    "AutomatedInvestigation": "automatedInvestigation",
    "CustomDetection": "customDetection",
    "MTP": "microsoft365Defender",
    "Manual": "manual",
}


def camel(value: str | None, members: tuple[str, ...]) -> str:
    """An MDE / XDR enum value (``InProgress``, ``TruePositive``, null) as its Graph member (``inProgress``)."""
    if value is None:
        return "unknown"
    graph = _SPECIAL.get(value) or value[:1].lower() + value[1:]
    return graph if graph in members else "unknown"


def hide_evolvable(record: dict[str, object], fields: Mapping[str, frozenset[str]]) -> dict[str, object]:
    """The record as a client without the Prefer header sees it: evolvable members become the sentinel."""
    hidden = {name: SENTINEL for name, members in fields.items() if record.get(name) in members}
    return {**record, **hidden} if hidden else record


def wants_unknown_members(prefer: str | None) -> bool:
    """True when the ``Prefer`` header (comma-separated preferences) asks for the evolvable members."""
    if not prefer:
        return False
    return any(part.strip().lower() == PREFER_UNKNOWN for part in prefer.split(","))
