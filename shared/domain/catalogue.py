"""The one catalogue of Defender facts the relay depends on: feeds, response actions, roles and defaults.

Read by the settings (the default allow-list and the names it may hold), the tenant registry (which feeds
and actions a tenant may name), the permission planner and ``check`` (which roles a tenant's token must
carry), the Defender client (which route, body and role), the HTTP route table and the OpenAPI document.
``tests/unit/test_catalogue_docs.py`` compares it with the tables in ``docs/onboarding.md`` and
``docs/http-api.md``, so the docs cannot drift from the code.

Sources (see docs/microsoft-apis.md for the details and quotes):
- Alerts: https://learn.microsoft.com/defender-endpoint/api/get-alerts (``Alert.Read.All``, ``$top`` up to 10,000)
- Incidents: https://learn.microsoft.com/defender-xdr/api-list-incidents (``Incident.Read.All``, ``$top`` up to 100)
- Machine actions: https://learn.microsoft.com/defender-endpoint/api/machineaction (one page per action,
  e.g. .../isolate-machine, .../run-av-scan, .../restrict-code-execution, .../collect-investigation-package,
  .../stop-and-quarantine-file, .../offboard-machine-api, .../cancel-machine-action)
Defender's body keys are PascalCase and case-sensitive; ours are camelCase JSON.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Literal, get_args

# The two APIs a tenant's token is asked for: WindowsDefenderATP (MDE) and Microsoft Threat Protection (XDR).
ApiResource = Literal["mde", "xdr"]
API_NAMES: Final[Mapping[ApiResource, str]] = {"mde": "WindowsDefenderATP", "xdr": "Microsoft Threat Protection"}

Feed = Literal["mde-alerts", "xdr-incidents"]
FEEDS: Final[tuple[Feed, ...]] = get_args(Feed)


@dataclass(frozen=True)
class FeedSpec:
    """One change feed: where it reads, what identifies an item, the largest page, the roles it needs."""

    name: Feed
    resource: ApiResource
    path: str
    id_field: str
    max_top: int
    roles: frozenset[str]
    kind: Literal["alert", "incident"]
    probe: str  # what ``check`` calls its one cheap read of this feed


FEED_SPECS: Final[Mapping[Feed, FeedSpec]] = {
    "mde-alerts": FeedSpec(
        "mde-alerts", "mde", "/api/alerts", "id", 10_000, frozenset({"Alert.Read.All"}), "alert", "alerts"
    ),
    "xdr-incidents": FeedSpec(
        "xdr-incidents",
        "xdr",
        "/api/incidents",
        "incidentId",
        100,
        frozenset({"Incident.Read.All"}),
        "incident",
        "incidents",
    ),
}
DEFAULT_FEEDS: Final[frozenset[Feed]] = frozenset({"mde-alerts"})


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


ISOLATION_TYPE: Final = ChoiceField("isolationType", "IsolationType", ("Full", "Selective"), "Full")
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
# Pushing, syncing and removing custom indicators (docs/indicators.md): an allow-list name like an action,
# never in DEFAULT_ALLOWED_ACTIONS, so each tenant (or the default setting) opts in.
INDICATORS: Final = "indicators"
# Every name an allow-list (a tenant's, or RELAY_DEFAULT_ALLOWED_ACTIONS) may hold.
ALLOW_LIST_NAMES: Final[frozenset[str]] = frozenset(ACTIONS_BY_NAME) | {CANCEL, INDICATORS}
# Never allowed by a default, only by a tenant that names it in its own allow-list.
EXPLICIT_ONLY: Final = frozenset({"offboard"})
# Every allow-list name but the explicit-only ones, in the order the settings docs and the Bicep write them.
DEFAULT_ALLOWED_ACTIONS: Final[tuple[str, ...]] = (
    "isolate", "unisolate", "scan", "collect-package", "restrict", "unrestrict", "stop-and-quarantine", CANCEL,
)  # fmt: skip

# MachineAction.status values: https://learn.microsoft.com/defender-endpoint/api/machineaction
FINAL_STATUSES: Final = frozenset({"Succeeded", "Failed", "TimeOut", "Cancelled"})
ACTIVE_STATUSES: Final = ("Pending", "InProgress")


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
