"""The response actions the HTTP API offers, and how each one maps onto the Defender for Endpoint API.

One table, read by validation (which body fields an action takes), the use case (which Defender route,
body and role), the HTTP blueprint (which routes exist) and the OpenAPI document. Defender's body keys
are PascalCase and case-sensitive (reference/defender-api.md §3.1); ours are camelCase JSON.

Sources: reference/defender-api.md §6.1 (routes, bodies, application permissions), §6.2 (action types).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


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
    role: str  # the application permission Defender checks (§6.1)
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
ACTIONS_BY_NAME: Final = {spec.name: spec for spec in MACHINE_ACTIONS}

# Allow-list names of the routes that change something in a tenant, beyond the machine actions.
CANCEL: Final = "cancel"
ALLOW_LIST_NAMES: Final = (*ACTIONS_BY_NAME, CANCEL)
# Never allowed by a default, only by a tenant that names it in its own allow-list.
EXPLICIT_ONLY: Final = frozenset({"offboard"})
DEFAULT_ALLOWED_ACTIONS: Final = (
    "isolate", "unisolate", "scan", "collect-package", "restrict", "unrestrict", "stop-and-quarantine", "cancel",
)  # fmt: skip

FINAL_STATUSES: Final = frozenset({"Succeeded", "Failed", "TimeOut", "Cancelled"})
ACTIVE_STATUSES: Final = ("Pending", "InProgress")
# Any machine-action permission may cancel (§6.1 "Cancel"); reading machines needs one of these.
READ_MACHINE_ROLES: Final = ("Machine.Read.All", "Machine.ReadWrite.All")
