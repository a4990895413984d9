"""MDE alert and machine handlers.

Pages under https://learn.microsoft.com/defender-endpoint/api/: get-alerts, get-alert-info-by-id,
update-alert, get-machines, get-machine-by-id.
"""

from __future__ import annotations

import json
from typing import Any, cast

from aiohttp import web

from emulator.defender import activity
from emulator.defender.jsonfmt import ApiError, collection_bytes, entity_bytes, json_response, raw_json_response
from emulator.defender.odata import Schema
from emulator.defender.paging import CollectionRules, envelope, select
from emulator.defender.pipeline import Ctx

ALERT_SCHEMA = Schema(
    "Alert",
    {
        **dict.fromkeys(
            ("alertCreationTime", "firstEventTime", "lastEventTime", "lastUpdateTime", "resolvedTime"), "datetime"
        ),
        **dict.fromkeys(("incidentId", "investigationId"), "int"),
        **dict.fromkeys(
            ("id", "assignedTo", "severity", "status", "classification", "determination", "investigationState",
             "detectionSource", "category", "title", "machineId", "computerDnsName"),
            "string",
        ),
    },
)  # fmt: skip
MACHINE_SCHEMA = Schema(
    "Machine",
    {
        **dict.fromkeys(("firstSeen", "lastSeen"), "datetime"),
        **dict.fromkeys(("rbacGroupId", "osBuild"), "int"),
        "isAadJoined": "bool",
        **dict.fromkeys(
            ("id", "computerDnsName", "osPlatform", "version", "lastIpAddress", "lastExternalIpAddress", "healthStatus",
             "onboardingStatus", "riskScore", "exposureLevel", "deviceValue", "aadDeviceId"),
            "string",
        ),
    },
)  # fmt: skip
_ALERT_RULES = CollectionRules(ALERT_SCHEMA, max_top=10_000)
_MACHINE_RULES = CollectionRules(MACHINE_SCHEMA, max_top=10_000)

_PATCH_VALUES: dict[str, tuple[str, ...] | None] = {
    "status": ("New", "InProgress", "Resolved"),
    "classification": ("TruePositive", "InformationalExpectedActivity", "FalsePositive"),
    # Both spellings are accepted, plus the deprecated-but-seen values: the alerts page says
    # ConfirmedUserActivity / Clean, the update-alert page ConfirmedActivity / NotMalicious.
    "determination": (
        "MultiStagedAttack", "MaliciousUserActivity", "CompromisedUser", "Malware", "Phishing", "UnwantedSoftware",
        "Other", "SecurityTesting", "LineOfBusinessApplication", "ConfirmedUserActivity", "ConfirmedActivity",
        "Clean", "NotMalicious", "InsufficientData", "Apt", "SecurityPersonnel",
    ),
    "assignedTo": None,
    "comment": None,
}  # fmt: skip


def _expand_evidence(ctx: Ctx) -> bool:
    expand = ctx.request.rel_url.query.get("$expand")
    if expand is None:
        return False
    if expand.strip().lower() != "evidence":
        raise ApiError(400, "ODataError", f"Invalid ODataQuery: $expand supports only 'evidence', got '{expand}'.")
    return True


async def list_alerts(ctx: Ctx) -> web.Response:
    with_evidence = _expand_evidence(ctx)
    records = list(ctx.data.alerts.values())
    page, next_link = select(
        ctx.request, records, _ALERT_RULES, ctx.state.settings.alerts_page_size, ordering=ctx.state.ordering
    )
    which = 0 if with_evidence else 1
    parts = [ctx.data.alert_json(cast(dict[str, Any], alert))[which] for alert in page]
    return raw_json_response(collection_bytes(ctx.context("Alerts"), parts, next_link))


def _alert(ctx: Ctx) -> dict[str, Any]:
    alert = ctx.data.alerts.get(ctx.args[0])
    if alert is None:
        raise ApiError(404, "ResourceNotFound", f"Alert {ctx.args[0]} was not found")
    return alert


async def get_alert(ctx: Ctx) -> web.Response:
    full, _ = ctx.data.alert_json(_alert(ctx))
    return raw_json_response(entity_bytes(ctx.context("Alerts/$entity"), full))


async def read_json(ctx: Ctx) -> Any:
    raw = await ctx.request.read()
    try:
        return json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "InvalidRequestBody", "Request body is incorrect: not valid JSON") from exc


def _validate_patch(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict) or not body:
        raise ApiError(400, "InvalidRequestBody", "Request body is incorrect: expected a JSON object with changes")
    for name, value in body.items():
        if name not in _PATCH_VALUES:
            raise ApiError(
                400,
                "InvalidRequestBody",
                f"Request body is incorrect: unknown property '{name}' (names are case-sensitive; "
                f"expected {', '.join(_PATCH_VALUES)})",
            )
        allowed = _PATCH_VALUES[name]
        if not (isinstance(value, str) or (value is None and name == "assignedTo")):
            raise ApiError(400, "InvalidRequestBody", f"Request body is incorrect: {name} must be a string")
        if allowed is not None and value not in allowed:
            raise ApiError(
                400, "InvalidRequestBody", f"Request body is incorrect: {name} must be one of {', '.join(allowed)}"
            )
    return body


async def patch_alert(ctx: Ctx) -> web.Response:
    alert = _alert(ctx)
    changes = _validate_patch(await read_json(ctx))
    updated = activity.update_alert(ctx.state.store, ctx.data, alert, changes, ctx.caller.app_name)
    return json_response({"@odata.context": ctx.context("Alerts/$entity"), **updated})


async def list_machines(ctx: Ctx) -> web.Response:
    # 404 "if there are no recent machines" (https://learn.microsoft.com/defender-endpoint/api/get-machines)
    if not ctx.data.machines:
        raise ApiError(404, "ResourceNotFound", "No recent machines were found")
    page, next_link = select(ctx.request, ctx.data.machines, _MACHINE_RULES, ctx.state.settings.alerts_page_size)
    return json_response(envelope(ctx.context("Machines"), page, next_link, lambda m: m))


async def get_machine(ctx: Ctx) -> web.Response:
    machine = ctx.data.machine(ctx.args[0])
    if machine is None:
        raise ApiError(404, "ResourceNotFound", f"Machine {ctx.args[0]} was not found")
    return json_response({"@odata.context": ctx.context("Machines/$entity"), **machine})
