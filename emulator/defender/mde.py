"""MDE alert and machine handlers.

Pages under https://learn.microsoft.com/defender-endpoint/api/: get-alerts, get-alert-info-by-id,
update-alert, batch-update-alerts, get-machines, get-machine-by-id, get-machine-related-alerts.
"""

from __future__ import annotations

import json
from typing import Any, cast

from aiohttp import web

from emulator.defender import activity
from emulator.defender.generator import ALERT_PROPERTIES, MACHINE_PROPERTIES
from emulator.defender.jsonfmt import (
    ApiError,
    collection_bytes,
    dumps,
    entity_bytes,
    json_response,
    raw_json_response,
)
from emulator.defender.odata import Schema
from emulator.defender.paging import CollectionRules, count_only, envelope, query
from emulator.defender.pipeline import Ctx
from emulator.defender.store import Alert, Machine

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
        "machineTags": "strings",
        **dict.fromkeys(
            ("id", "computerDnsName", "osPlatform", "version", "lastIpAddress", "lastExternalIpAddress", "healthStatus",
             "onboardingStatus", "riskScore", "exposureLevel", "deviceValue", "aadDeviceId"),
            "string",
        ),
    },
)  # fmt: skip
# "Supports OData V4 queries" (get-alerts, get-machines): $select and $count=true are served.
_ALERT_RULES = CollectionRules(ALERT_SCHEMA, max_top=10_000, properties=ALERT_PROPERTIES)
_MACHINE_RULES = CollectionRules(MACHINE_SCHEMA, max_top=10_000, properties=MACHINE_PROPERTIES)
BATCH_FIELDS = ("alertIds", "status", "assignedTo", "classification", "determination", "comment")

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
    return _alert_page(ctx, list(ctx.data.alerts.values()))


async def machine_alerts(ctx: Ctx) -> web.Response:
    """``GET /api/machines/{id}/alerts``: "If device was not found: 404 Not Found" (get-machine-related-alerts)."""
    machine = machine_or_404(ctx)
    return _alert_page(ctx, [a for a in ctx.data.alerts.values() if a["machineId"] == machine["id"]])


async def machine_alerts_count(ctx: Ctx) -> web.Response:
    """``/api/machines/{id}/alerts/$count``: a bare number (exposed-apis-odata-samples, Example 7)."""
    machine = machine_or_404(ctx)
    alerts = [a for a in ctx.data.alerts.values() if a["machineId"] == machine["id"]]
    return web.Response(text=str(count_only(ctx.request, alerts, _ALERT_RULES)), content_type="text/plain")


def _alert_page(ctx: Ctx, records: list[Alert]) -> web.Response:
    with_evidence = _expand_evidence(ctx)
    size, ordering = ctx.state.settings.alerts_page_size, ctx.state.ordering
    page = query(ctx.request, records, _ALERT_RULES, size, host=ctx.config.host, ordering=ordering)
    if page.fields is None:
        which = 0 if with_evidence else 1
        parts = [ctx.data.alert_json(cast(dict[str, Any], alert))[which] for alert in page.items]
    else:
        keep = ("evidence",) if with_evidence else ()
        shaped = (page.shape({**alert, "evidence": alert["evidence"] if with_evidence else []}, keep=keep)
                  for alert in page.items)  # fmt: skip
        parts = [dumps(alert).encode() for alert in shaped]
    return raw_json_response(collection_bytes(ctx.context("Alerts"), parts, page.next_link, count=page.count))


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


async def batch_update_alerts(ctx: Ctx) -> web.Response:
    """``POST /api/alerts/batchUpdate``: "If successful, this method returns 200 OK, with an empty response body."

    Every id is checked before any alert changes (INF: the page does not say what an unknown id does).
    """
    body = await read_json(ctx)
    if not isinstance(body, dict) or "alertIds" not in body:
        raise ApiError(400, "MissingRequiredParameter", "Request body is incorrect: alertIds is required")
    ids = body["alertIds"]
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise ApiError(400, "InvalidRequestBody", "Request body is incorrect: alertIds must be a list of alert ids")
    changes = _validate_patch({k: v for k, v in body.items() if k != "alertIds"})
    missing = [i for i in ids if i not in ctx.data.alerts]
    if missing:
        raise ApiError(404, "ResourceNotFound", f"Alert {missing[0]} was not found")
    for alert_id in dict.fromkeys(ids):
        activity.update_alert(ctx.state.store, ctx.data, ctx.data.alerts[alert_id], changes, ctx.caller.app_name)
    return web.Response(status=200)


def machine_or_404(ctx: Ctx) -> Machine:
    """The machine the path names (by id or computer name), or Defender's 404."""
    machine = ctx.data.machine(ctx.args[0])
    if machine is None:
        raise ApiError(404, "ResourceNotFound", f"Machine {ctx.args[0]} was not found")
    return machine


async def list_machines(ctx: Ctx) -> web.Response:
    # 404 "if there are no recent machines" (https://learn.microsoft.com/defender-endpoint/api/get-machines)
    if not ctx.data.machines:
        raise ApiError(404, "ResourceNotFound", "No recent machines were found")
    size = ctx.state.settings.alerts_page_size
    page = query(ctx.request, ctx.data.machines, _MACHINE_RULES, size, host=ctx.config.host)
    return json_response(envelope(ctx.context("Machines"), page.items, page.next_link, page.shape, count=page.count))


async def get_machine(ctx: Ctx) -> web.Response:
    return json_response({"@odata.context": ctx.context("Machines/$entity"), **machine_or_404(ctx)})
