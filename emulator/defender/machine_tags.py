"""``POST /api/machines/{id}/tags``: add or remove one machine tag.

https://learn.microsoft.com/defender-endpoint/api/add-or-remove-machine-tags: the body is ``{"Value": tag,
"Action": "Add" | "Remove"}`` (both required; body names are case-sensitive, as on every MDE body,
https://learn.microsoft.com/defender-endpoint/api/common-errors), the permission ``Machine.ReadWrite.All``, the
answer "200 - Ok response code and the updated Machine". A machine this tenant does not have is 404. Adding a
tag the machine has, or removing one it has not, changes nothing (INF: the page does not say).

The machine record is changed in place, so ``GET /api/machines`` and the ``machineTags`` filter see the new
tags at once; Graph alerts already rendered keep the device evidence of their version.
"""

from __future__ import annotations

from aiohttp import web

from emulator.defender.jsonfmt import ApiError, json_response
from emulator.defender.mde import machine_or_404, read_json
from emulator.defender.pipeline import Ctx

TAG_ROLES = ("Machine.ReadWrite.All",)
_ACTIONS = ("Add", "Remove")


def _tag_request(body: object) -> tuple[str, str]:
    if not isinstance(body, dict):
        raise ApiError(400, "InvalidRequestBody", "Request body is incorrect: expected a JSON object")
    unknown = sorted(set(body) - {"Value", "Action"})
    if unknown:
        raise ApiError(
            400,
            "InvalidRequestBody",
            f"Request body is incorrect: unknown parameter '{unknown[0]}' (parameter names are case-sensitive; "
            "expected Action, Value)",
        )
    for name in ("Value", "Action"):
        if name not in body:
            raise ApiError(400, "MissingRequiredParameter", f"Parameter {name} is missing.")
    value, action = body["Value"], body["Action"]
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, "InvalidRequestBody", "Request body is incorrect: Value must be a non-empty string")
    if action not in _ACTIONS:
        raise ApiError(400, "InvalidRequestBody", "Request body is incorrect: Action must be one of Add, Remove")
    return value, action


async def tag_machine(ctx: Ctx) -> web.Response:
    machine = machine_or_404(ctx)
    value, action = _tag_request(await read_json(ctx))
    tags = list(machine["machineTags"])
    if action == "Add" and value not in tags:
        tags.append(value)
    elif action == "Remove" and value in tags:
        tags.remove(value)
    machine["machineTags"] = tags
    return json_response({"@odata.context": ctx.context("Machines/$entity"), **machine})
