"""Machine-action handlers: create, cancel, get, list (the catalog and state machine are in machine_actions)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from aiohttp import web

from emulator.defender.jsonfmt import ApiError, json_response
from emulator.defender.machine_actions import (
    ACTIONS,
    ActionTiming,
    MachineAction,
    parse_action_body,
    parse_cancel_body,
)
from emulator.defender.mde import read_json
from emulator.defender.odata import Schema
from emulator.defender.paging import CollectionRules, envelope, query
from emulator.defender.pipeline import Ctx

ACTION_SCHEMA = Schema(
    "MachineAction",
    {
        **dict.fromkeys(("creationDateTimeUtc", "lastUpdateDateTimeUtc"), "datetime"),
        **dict.fromkeys(("id", "status", "machineId", "type", "requestor", "computerDnsName", "scope"), "string"),
    },
)
# "Supports OData V4 queries" (get-machineactions-collection): $select and $count=true are served.
_ACTION_PROPERTIES = (
    "id", "type", "title", "requestor", "requestorComment", "status", "machineId", "computerDnsName",
    "creationDateTimeUtc", "lastUpdateDateTimeUtc", "cancellationRequestor", "cancellationComment",
    "cancellationDateTimeUtc", "errorHResult", "scope", "externalId", "requestSource", "relatedFileInfo", "commands",
    "troubleshootInfo",
)  # fmt: skip
_ACTION_RULES = CollectionRules(ACTION_SCHEMA, max_top=10_000, properties=_ACTION_PROPERTIES)


def action_roles(args: tuple[str, ...]) -> tuple[str, ...]:
    kind = ACTIONS.get(args[1].lower())
    return (kind.permission,) if kind else ()


async def create_action(ctx: Ctx) -> web.Response:
    kind = ACTIONS.get(ctx.args[1].lower())
    if kind is None:
        raise ApiError(404, "NotFound", f"No API matches the path {ctx.request.path}")
    machine = ctx.data.machine(ctx.args[0])
    if machine is None:
        raise ApiError(404, "ResourceNotFound", f"Machine {ctx.args[0]} was not found")
    request = parse_action_body(kind, await read_json(ctx))
    if ctx.data.active_action(machine["id"], kind.type, ctx.now) is not None:
        raise ApiError(400, "ActiveRequestAlreadyExists", "Action is already in progress")
    action = MachineAction(
        id=str(uuid.uuid4()),
        type=kind.type,
        requestor=ctx.caller.app_name,
        comment=request.comment,
        machine_id=machine["id"],
        computer_dns_name=machine["computerDnsName"],
        created=ctx.now,
        timing=_timing_for(ctx, machine),
        scope=request.scope,
        sha1=request.sha1,
    )
    ctx.data.actions[action.id] = action
    # The offboard page says "200 - Created" (https://learn.microsoft.com/defender-endpoint/api/offboard-machine-api);
    # every other action documents 201, and so does this one.
    return _render(ctx, action, status=201)


def _timing_for(ctx: Ctx, machine: dict[str, Any]) -> ActionTiming:
    """A copy of the configured timing (later changes affect new actions only), as the device can follow it.

    A device that is offline (``Inactive``, ``NoSensorData``) never picks the action up: it stays Pending
    and times out; one with ``ImpairedCommunication`` starts it and drops off mid-way: InProgress, then
    TimeOut (INF: the pages say an action times out when the device does not respond, not after how long).
    """
    timing = replace(ctx.state.store.timing)
    if machine["healthStatus"] in ("Inactive", "NoSensorData"):
        return replace(timing, pending_seconds=timing.pending_seconds + timing.in_progress_seconds,
                       in_progress_seconds=0.0, outcome="TimeOut")  # fmt: skip
    if machine["healthStatus"] == "ImpairedCommunication":
        return replace(timing, outcome="TimeOut")
    return timing


def _render(ctx: Ctx, action: MachineAction, *, status: int = 200) -> web.Response:
    body = {"@odata.context": ctx.context("MachineActions/$entity"), **action.to_json(ctx.now)}
    return json_response(body, status=status)


def _action(ctx: Ctx) -> MachineAction:
    action = ctx.data.actions.get(ctx.args[0].lower())
    if action is None:
        raise ApiError(404, "ResourceNotFound", f"MachineAction {ctx.args[0]} was not found")
    return action


async def get_action(ctx: Ctx) -> web.Response:
    return _render(ctx, _action(ctx))


async def cancel_action(ctx: Ctx) -> web.Response:
    action = _action(ctx)
    comment = parse_cancel_body(await read_json(ctx))
    action.cancel(ctx.now, ctx.caller.app_name, comment)
    return _render(ctx, action)


async def list_actions(ctx: Ctx) -> web.Response:
    records = [action.to_json(ctx.now) for action in ctx.data.actions.values()]
    page = query(ctx.request, records, _ACTION_RULES, ctx.state.settings.alerts_page_size, host=ctx.config.host)
    return json_response(
        envelope(ctx.context("MachineActions"), page.items, page.next_link, page.shape, count=page.count)
    )
