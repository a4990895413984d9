"""Machine actions: the catalog of action endpoints, body validation, and the status state machine.

The catalog follows the action pages (e.g. https://learn.microsoft.com/defender-endpoint/api/isolate-machine)
and the MachineAction entity https://learn.microsoft.com/defender-endpoint/api/machineaction.

Status is a pure function of the emulated clock: ``Pending`` for ``pending_seconds`` after creation,
then ``InProgress`` for ``in_progress_seconds``, then the configured outcome (``Succeeded``,
``Failed`` or ``TimeOut``); a cancel before that freezes it at ``Cancelled``. Nothing runs in the
background, so advancing the emulated clock advances every action at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from emulator.defender.jsonfmt import ApiError

FINAL_STATUSES = frozenset({"Succeeded", "Failed", "TimeOut", "Cancelled"})
OUTCOMES = ("Succeeded", "Failed", "TimeOut")
_SHA1 = re.compile(r"^[0-9a-fA-F]{40}$")
E_FAIL = -2147467259  # HRESULT reported with a failed action


@dataclass(frozen=True)
class ActionKind:
    """One action endpoint: its MachineAction ``type``, permission, and body parameters."""

    type: str
    permission: str
    scope_param: str | None = None
    scope_values: tuple[str, ...] = ()
    scope_required: bool = False
    needs_sha1: bool = False

    @property
    def params(self) -> frozenset[str]:
        names = {"Comment"}
        if self.scope_param:
            names.add(self.scope_param)
        if self.needs_sha1:
            names.add("Sha1")
        return frozenset(names)


# Path segment (lower case: ASP.NET routing ignores case) -> action, one per action page.
ACTIONS: dict[str, ActionKind] = {
    "isolate": ActionKind("Isolate", "Machine.Isolate", "IsolationType", ("Full", "Selective", "UnManagedDevice")),
    "unisolate": ActionKind("Unisolate", "Machine.Isolate"),
    "runantivirusscan": ActionKind("RunAntiVirusScan", "Machine.Scan", "ScanType", ("Quick", "Full"), True),
    "restrictcodeexecution": ActionKind("RestrictCodeExecution", "Machine.RestrictExecution"),
    "unrestrictcodeexecution": ActionKind("UnrestrictCodeExecution", "Machine.RestrictExecution"),
    "collectinvestigationpackage": ActionKind("CollectInvestigationPackage", "Machine.CollectForensics"),
    "stopandquarantinefile": ActionKind("StopAndQuarantineFile", "Machine.StopAndQuarantine", needs_sha1=True),
    "offboard": ActionKind("Offboard", "Machine.Offboard"),
}
# Cancel accepts any one of the action permissions:
# https://learn.microsoft.com/defender-endpoint/api/cancel-machine-action
CANCEL_PERMISSIONS: tuple[str, ...] = tuple(dict.fromkeys(kind.permission for kind in ACTIONS.values()))


@dataclass
class ActionTiming:
    pending_seconds: float = 2.0
    in_progress_seconds: float = 3.0
    outcome: str = "Succeeded"

    @classmethod
    def from_json(cls, data: Any) -> ActionTiming:
        if not isinstance(data, dict):
            raise ValueError("the actions timing body must be a JSON object")
        timing = cls()
        for name in ("pending_seconds", "in_progress_seconds"):
            value = data.get(name, getattr(timing, name))
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 86_400:
                raise ValueError(f"{name} must be a number of seconds between 0 and 86400, got {value!r}")
            setattr(timing, name, float(value))
        outcome = data.get("outcome", timing.outcome)
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
        timing.outcome = outcome
        return timing


@dataclass(frozen=True)
class ActionRequest:
    comment: str
    scope: str | None
    sha1: str | None


def parse_action_body(kind: ActionKind, body: Any) -> ActionRequest:
    """Validate a case-sensitive action body: wrong case -> 400.

    https://learn.microsoft.com/defender-endpoint/api/common-errors
    """
    if not isinstance(body, dict):
        raise ApiError(400, "InvalidRequestBody", "Request body is incorrect: expected a JSON object")
    unknown = sorted(set(body) - kind.params)
    if unknown:
        raise ApiError(
            400,
            "InvalidRequestBody",
            f"Request body is incorrect: unknown parameter '{unknown[0]}' (parameter names are case-sensitive; "
            f"expected {', '.join(sorted(kind.params))})",
        )
    comment = _required_string(body, "Comment")
    scope = None
    if kind.scope_param:
        scope = body.get(kind.scope_param)
        if scope is None and kind.scope_required:
            raise ApiError(400, "MissingRequiredParameter", f"Parameter {kind.scope_param} is missing.")
        if scope is None:
            scope = kind.scope_values[0]
        if scope not in kind.scope_values:
            raise ApiError(
                400,
                "InvalidRequestBody",
                f"Request body is incorrect: {kind.scope_param} must be one of {', '.join(kind.scope_values)}",
            )
    sha1 = None
    if kind.needs_sha1:
        sha1 = _required_string(body, "Sha1")
        if not _SHA1.match(sha1):
            raise ApiError(400, "InvalidHashValue", f"Hash value {sha1} is invalid.")
    return ActionRequest(comment=comment, scope=scope, sha1=sha1)


def parse_cancel_body(body: Any) -> str:
    if not isinstance(body, dict):
        raise ApiError(400, "InvalidRequestBody", "Request body is incorrect: expected a JSON object")
    return _required_string(body, "Comment")


def _required_string(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None:
        raise ApiError(400, "MissingRequiredParameter", f"Parameter {name} is missing.")
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, "InvalidRequestBody", f"Request body is incorrect: {name} must be a non-empty string")
    return value


@dataclass
class MachineAction:
    id: str
    type: str
    requestor: str
    comment: str
    machine_id: str
    computer_dns_name: str
    created: datetime
    timing: ActionTiming  # a copy taken at creation: later timing changes affect new actions only
    scope: str | None = None
    sha1: str | None = None
    cancelled: datetime | None = None
    cancellation_requestor: str | None = None
    cancellation_comment: str | None = None

    def status_at(self, now: datetime) -> tuple[str, datetime]:
        """The status at ``now`` and when it last changed."""
        if self.cancelled is not None:
            return "Cancelled", self.cancelled
        started = self.created + timedelta(seconds=self.timing.pending_seconds)
        if now < started:
            return "Pending", self.created
        finished = started + timedelta(seconds=self.timing.in_progress_seconds)
        if now < finished:
            return "InProgress", started
        return self.timing.outcome, finished

    def is_active(self, now: datetime) -> bool:
        return self.status_at(now)[0] not in FINAL_STATUSES

    def cancel(self, now: datetime, requestor: str, comment: str) -> None:
        status, _ = self.status_at(now)
        if status in FINAL_STATUSES:
            raise ApiError(
                400,
                "BadRequest",
                f"Machine action {self.id} is already in final state {status} and can't be cancelled",
            )
        self.cancelled = now
        self.cancellation_requestor = requestor
        self.cancellation_comment = comment

    def to_json(self, now: datetime) -> dict[str, Any]:
        """The real MachineAction shape: ``externalId`` and ``lastUpdateDateTimeUtc`` as real answers spell them
        (the machineaction page in the module docstring writes ``externalID``)."""
        status, updated = self.status_at(now)
        return {
            "id": self.id,
            "type": self.type,
            "title": None,
            "requestor": self.requestor,
            "requestorComment": self.comment,
            "status": status,
            "machineId": self.machine_id,
            "computerDnsName": self.computer_dns_name,
            "creationDateTimeUtc": self.created,
            "lastUpdateDateTimeUtc": updated,
            "cancellationRequestor": self.cancellation_requestor,
            "cancellationComment": self.cancellation_comment,
            "cancellationDateTimeUtc": self.cancelled,
            "errorHResult": E_FAIL if status == "Failed" else 0,
            "scope": self.scope,
            "externalId": None,
            "requestSource": "PublicApi",
            "relatedFileInfo": {"fileIdentifier": self.sha1, "fileIdentifierType": "Sha1"} if self.sha1 else None,
            "commands": [],
            "troubleshootInfo": None,
        }
