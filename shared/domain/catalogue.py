"""The one catalogue of Defender and Graph facts the relay depends on: feeds, response actions, roles, defaults.

Read by the settings (the default allow-list and the names it may hold), the tenant registry (which feeds
and actions a tenant may name), the permission planner and ``check`` (which roles a tenant's token must
carry), the Defender client (which route, body and role), the HTTP route table and the OpenAPI document.
``tests/unit/test_docs.py`` compares it with the permissions table in ``docs/partner-setup.md``, so the
docs cannot drift from the code.

Sources (see docs/microsoft-apis.md for the details and quotes):
- Alerts: https://learn.microsoft.com/defender-endpoint/api/get-alerts (``Alert.Read.All``, ``$top`` up to 10,000)
- Incidents: https://learn.microsoft.com/defender-xdr/api-list-incidents (``Incident.Read.All``, ``$top`` up to 100)
- Graph alerts_v2: https://learn.microsoft.com/graph/api/security-list-alerts_v2 (``SecurityAlert.Read.All``;
  ``$filter`` on ``lastUpdateDateTime``, ``createdDateTime``, ``serviceSource``; no ``$top`` maximum documented)
- Graph incidents: https://learn.microsoft.com/graph/api/security-list-incidents (``SecurityIncident.Read.All``;
  ``$expand=alerts``)
- The MDE and XDR APIs stop on 2027-02-01 (MC1220762, docs/microsoft-apis.md §Retirement of the MDE and XDR APIs)
- Machine actions: https://learn.microsoft.com/defender-endpoint/api/machineaction (one page per action,
  e.g. .../isolate-machine, .../run-av-scan, .../restrict-code-execution, .../collect-investigation-package,
  .../stop-and-quarantine-file, .../offboard-machine-api, .../cancel-machine-action). They stay on the MDE
  API: Graph v1.0 has no app-only equivalent (docs/microsoft-apis.md §Retirement of the MDE and XDR APIs).
Defender's body keys are PascalCase and case-sensitive; ours are camelCase JSON.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Final, Literal, get_args

# The APIs a tenant's token is asked for: WindowsDefenderATP (MDE), Microsoft Threat Protection (XDR) and
# Microsoft Graph. A token carries the roles of one resource only, so each is its own token.
ApiResource = Literal["mde", "xdr", "graph"]
API_RESOURCES: Final[tuple[ApiResource, ...]] = get_args(ApiResource)
API_NAMES: Final[Mapping[ApiResource, str]] = {
    "mde": "WindowsDefenderATP",
    "xdr": "Microsoft Threat Protection",
    "graph": "Microsoft Graph",
}

Feed = Literal["mde-alerts", "xdr-incidents", "graph-alerts", "graph-incidents"]
FEEDS: Final[tuple[Feed, ...]] = get_args(Feed)
ItemKind = Literal["alert", "incident", "hunt-row"]

# MC1220762: "After February 1, 2027, the MDE and XDR APIs will no longer function."
MDE_XDR_RETIREMENT: Final = date(2027, 2, 1)


@dataclass(frozen=True)
class FeedSpec:
    """One change feed: where it reads, what identifies an item and its version, the largest page, the roles.

    ``time_field`` is the change time the read windows filter on (``ge``/``lt``) and the item's version;
    ``created_field`` splits a window whose items share one change time (docs/ingestion.md "Read windows").
    ``successor`` is the Graph feed that replaces a retiring one (``defender-relay migrate``); ``predecessor``
    (below) is the way back (``migrate --rollback``). ``provider_field`` names the item's id in the product
    that raised it, the same value across feeds: a Graph alert's ``providerAlertId`` is the MDE alert's
    ``id``, a Graph incident's ``id`` the XDR ``incidentId`` (empty: ``id_field``).
    """

    name: Feed
    resource: ApiResource
    path: str
    id_field: str
    time_field: str
    created_field: str
    max_top: int
    roles: frozenset[str]
    kind: ItemKind
    probe: str  # what ``check`` calls its one cheap read of this feed
    retires_on: date | None = None
    successor: Feed | None = None
    provider_field: str = ""

    @property
    def api(self) -> str:
        return API_NAMES[self.resource]

    @property
    def provider_id_field(self) -> str:
        return self.provider_field or self.id_field


FEED_SPECS: Final[Mapping[Feed, FeedSpec]] = {
    "mde-alerts": FeedSpec(
        "mde-alerts", "mde", "/api/alerts", "id", "lastUpdateTime", "alertCreationTime", 10_000,
        frozenset({"Alert.Read.All"}), "alert", "alerts", MDE_XDR_RETIREMENT, "graph-alerts",
    ),
    "xdr-incidents": FeedSpec(
        "xdr-incidents", "xdr", "/api/incidents", "incidentId", "lastUpdateTime", "createdTime", 100,
        frozenset({"Incident.Read.All"}), "incident", "incidents", MDE_XDR_RETIREMENT, "graph-incidents",
    ),
    # No $top maximum is documented for the Graph lists; Elastic's integration uses 2,000 for alerts and 50
    # for incidents (docs/microsoft-apis.md §Graph query options and paging). 1,000 keeps a page of alerts
    # with their evidence to a few MB; 50 keeps an incident page small even with $expand=alerts.
    "graph-alerts": FeedSpec(
        "graph-alerts", "graph", "/v1.0/security/alerts_v2", "id", "lastUpdateDateTime", "createdDateTime", 1_000,
        frozenset({"SecurityAlert.Read.All"}), "alert", "alerts_v2", provider_field="providerAlertId",
    ),
    "graph-incidents": FeedSpec(
        "graph-incidents", "graph", "/v1.0/security/incidents", "id", "lastUpdateDateTime", "createdDateTime", 50,
        frozenset({"SecurityIncident.Read.All"}), "incident", "security/incidents",
    ),
}  # fmt: skip
# New tenants read Graph. A registry row written before the Graph feeds existed without a feeds column
# meant the old default, which is what ``LEGACY_DEFAULT_FEEDS`` keeps reading it as.
DEFAULT_FEEDS: Final[frozenset[Feed]] = frozenset({"graph-alerts", "graph-incidents"})
LEGACY_DEFAULT_FEEDS: Final[frozenset[Feed]] = frozenset({"mde-alerts"})
RETIRING_FEEDS: Final[frozenset[Feed]] = frozenset(name for name, spec in FEED_SPECS.items() if spec.retires_on)

# serviceSource values of alerts_v2 (https://learn.microsoft.com/graph/api/resources/security-alert,
# "serviceSource values"). The enum is evolvable: a tenant may name a value not listed here yet.
SERVICE_SOURCES: Final[tuple[str, ...]] = (
    "microsoftDefenderForEndpoint", "microsoftDefenderForIdentity", "microsoftDefenderForCloudApps",
    "microsoftDefenderForOffice365", "microsoft365Defender", "azureAdIdentityProtection", "microsoftAppGovernance",
    "dataLossPrevention", "microsoftDefenderForCloud", "unknown",
)  # fmt: skip


def retiring(feeds: frozenset[Feed]) -> list[FeedSpec]:
    """The feeds of ``feeds`` that stand on a retiring API, in name order."""
    return [FEED_SPECS[f] for f in sorted(feeds) if FEED_SPECS[f].retires_on is not None]


def migrated(feeds: frozenset[Feed]) -> frozenset[Feed]:
    """``feeds`` with every retiring feed replaced by its Graph successor."""
    return frozenset(FEED_SPECS[f].successor or f for f in feeds)


def predecessor(feed: Feed) -> Feed | None:
    """The retiring feed ``feed`` succeeds (``migrate --rollback`` moves back to it), or None."""
    return next((name for name, spec in FEED_SPECS.items() if spec.successor == feed), None)


def successors(feeds: frozenset[Feed]) -> list[FeedSpec]:
    """The feeds of ``feeds`` that have a retiring predecessor (the ones ``--rollback`` moves), in name order."""
    return [FEED_SPECS[f] for f in sorted(feeds) if predecessor(f) is not None]


def rolled_back(feeds: frozenset[Feed]) -> frozenset[Feed]:
    """``feeds`` with every Graph feed that has a predecessor replaced by it (the reverse of ``migrated``)."""
    return frozenset(predecessor(f) or f for f in feeds)


@dataclass(frozen=True)
class ChoiceField:
    """An optional enum field of an action body: our JSON name, Defender's name, values, default."""

    name: str
    defender_name: str
    choices: tuple[str, ...]
    default: str


@dataclass(frozen=True)
class ActionSpec:
    name: str  # our route segment and allow-list name, e.g. "collect-package"
    defender_path: str  # POST /api/machines/{id}/<defender_path>
    defender_type: str  # MachineAction.type Defender reports for it
    role: str  # the application permission Defender checks
    summary: str
    choices: tuple[ChoiceField, ...] = ()
    needs_sha1: bool = False

    @property
    def fields(self) -> tuple[str, ...]:
        """Every body field the action accepts; anything else is refused as unknown."""
        extra = tuple(c.name for c in self.choices) + (("sha1",) if self.needs_sha1 else ())
        return ("comment", *extra)


# "Calling this API on unmanaged devices triggers the contain device from the network action. The IsolationType
# value should be set to 'UnManagedDevice.'" (https://learn.microsoft.com/defender-endpoint/api/isolate-machine)
ISOLATION_TYPE: Final = ChoiceField("isolationType", "IsolationType", ("Full", "Selective", "UnManagedDevice"), "Full")
SCAN_TYPE: Final = ChoiceField("scanType", "ScanType", ("Quick", "Full"), "Quick")

MACHINE_ACTIONS: Final[tuple[ActionSpec, ...]] = (
    ActionSpec(
        "isolate", "isolate", "Isolate", "Machine.Isolate", "Isolate a machine from the network", (ISOLATION_TYPE,)
    ),
    ActionSpec("unisolate", "unisolate", "Unisolate", "Machine.Isolate", "Release a machine from isolation"),
    ActionSpec("scan", "runAntiVirusScan", "RunAntiVirusScan", "Machine.Scan", "Run a Defender AV scan", (SCAN_TYPE,)),
    ActionSpec(
        "restrict",
        "restrictCodeExecution",
        "RestrictCodeExecution",
        "Machine.RestrictExecution",
        "Restrict app execution to Microsoft-signed binaries",
    ),
    ActionSpec(
        "unrestrict",
        "unrestrictCodeExecution",
        "UnrestrictCodeExecution",
        "Machine.RestrictExecution",
        "Remove the app execution restriction",
    ),
    ActionSpec(
        "collect-package",
        "collectInvestigationPackage",
        "CollectInvestigationPackage",
        "Machine.CollectForensics",
        "Collect an investigation package",
    ),
    ActionSpec(
        "stop-and-quarantine",
        "StopAndQuarantineFile",
        "StopAndQuarantineFile",
        "Machine.StopAndQuarantine",
        "Stop a file's processes and quarantine it (by SHA1)",
        needs_sha1=True,
    ),
    ActionSpec("offboard", "offboard", "Offboard", "Machine.Offboard", "Offboard a machine from Defender"),
)
ACTIONS_BY_NAME: Final[Mapping[str, ActionSpec]] = {spec.name: spec for spec in MACHINE_ACTIONS}
# Resolving a machine by name or IP and following an action read machines: every action also needs this.
LOOKUP_ROLE: Final = "Machine.Read.All"

# Cancel needs any one Machine.* action role, which an allowed action already brings; Defender checks it.
CANCEL: Final = "cancel"
# Updating, commenting on and tagging (shared/triage): one allow-list entry, off until a tenant opts in.
TRIAGE: Final = "triage"
# Pushing, syncing and removing custom indicators (docs/indicators.md): an allow-list name like an action,
# never in DEFAULT_ALLOWED_ACTIONS, so each tenant (or the default setting) opts in.
INDICATORS: Final = "indicators"
# Every name an allow-list (a tenant's, or RELAY_DEFAULT_ALLOWED_ACTIONS) may hold.
ALLOW_LIST_NAMES: Final[frozenset[str]] = frozenset(ACTIONS_BY_NAME) | {CANCEL, TRIAGE, INDICATORS}
# Never allowed by a default, only by a tenant that names it in its own allow-list.
EXPLICIT_ONLY: Final = frozenset({"offboard", TRIAGE})
# Every allow-list name but the explicit-only ones, in the order the settings docs and the Bicep write them.
DEFAULT_ALLOWED_ACTIONS: Final[tuple[str, ...]] = (
    "isolate", "unisolate", "scan", "collect-package", "restrict", "unrestrict", "stop-and-quarantine", CANCEL,
)  # fmt: skip

# MachineAction.status values: https://learn.microsoft.com/defender-endpoint/api/machineaction
FINAL_STATUSES: Final = frozenset({"Succeeded", "Failed", "TimeOut", "Cancelled"})
ACTIVE_STATUSES: Final = ("Pending", "InProgress")

# Triage (shared/triage): Graph writes on alerts and incidents, MDE machine tags.
# - PATCH /security/alerts_v2/{id} and POST .../comments: SecurityAlert.ReadWrite.All
#   (https://learn.microsoft.com/graph/api/security-alert-update; security-alert-post-comments, whose
#   permissions the beta page security-alert-addcomment lists as SecurityAlert.ReadWrite.All).
# - PATCH /security/incidents/{id} and POST .../comments: SecurityIncident.ReadWrite.All
#   (https://learn.microsoft.com/graph/api/security-incident-update; security-incident-post-comments).
# - POST /api/machines/{id}/tags: Machine.ReadWrite.All
#   (https://learn.microsoft.com/defender-endpoint/api/add-or-remove-machine-tags); resolving a machine by
#   name or IP reads machines (LOOKUP_ROLE), as the actions do.
TRIAGE_ALERT_ROLE: Final = "SecurityAlert.ReadWrite.All"
TRIAGE_INCIDENT_ROLE: Final = "SecurityIncident.ReadWrite.All"
TRIAGE_TAG_ROLE: Final = "Machine.ReadWrite.All"
TRIAGE_ROLES: Final[Mapping[ApiResource, frozenset[str]]] = {
    "graph": frozenset({TRIAGE_ALERT_ROLE, TRIAGE_INCIDENT_ROLE}),
    "mde": frozenset({TRIAGE_TAG_ROLE, LOOKUP_ROLE}),
}

# Custom indicators (docs/microsoft-apis.md §Indicators; pages under https://learn.microsoft.com/defender-endpoint/api/:
# ti-indicator, post-ti-indicator, import-ti-indicators, get-ti-indicators-collection, delete-ti-indicator-by-id,
# batch-delete-ti-indicators). Ti.ReadWrite lets the app see and change only the indicators it created (the
# least privilege for a partner); Ti.ReadWrite.All every indicator of the tenant.
INDICATOR_ROLE: Final = "Ti.ReadWrite"
INDICATOR_ROLE_ALL: Final = "Ti.ReadWrite.All"
# A role is also granted by a broader one: a token with Ti.ReadWrite.All satisfies a need for Ti.ReadWrite.
ROLE_ALTERNATIVES: Final[Mapping[str, frozenset[str]]] = {INDICATOR_ROLE: frozenset({INDICATOR_ROLE_ALL})}
INDICATORS_PATH: Final = "/api/indicators"
INDICATOR_IMPORT_PATH: Final = "/api/indicators/import"
INDICATOR_BATCH_DELETE_PATH: Final = "/api/indicators/BatchDelete"
INDICATOR_IMPORT_MAX: Final = 500  # indicators per import call
INDICATOR_DELETE_MAX: Final = 500  # ids per BatchDelete call
INDICATOR_LIST_MAX_TOP: Final = 10_000
MAX_ACTIVE_INDICATORS: Final = 15_000  # per tenant; "increases to this limit are not supported" (indicators-overview)


def missing_roles(required: Iterable[str], granted: Iterable[str]) -> set[str]:
    """The required roles that neither the token nor a broader role it holds grants."""
    held = set(granted)
    return {role for role in required if role not in held and not ROLE_ALTERNATIVES.get(role, frozenset()) & held}


# Advanced hunting through Microsoft Graph (docs/microsoft-apis.md §Advanced hunting): POST runHuntingQuery
# with {"Query", "Timespan"}; application permission ThreatHunting.Read.All, on the Graph resource.
# https://learn.microsoft.com/graph/api/security-security-runhuntingquery
HUNTING_PATH: Final = "/v1.0/security/runHuntingQuery"
HUNTING_ROLE: Final = "ThreatHunting.Read.All"
