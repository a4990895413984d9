"""The MDE indicators routes and their control routes (docs/contracts.md §1.5, §1.6).

``GET /api/indicators`` (OData ``$filter`` on the documented fields, ``$top`` up to 10,000, ``$skip``),
``POST /api/indicators`` (submit or update one; 200 with the entity, 400 with the reason),
``POST /api/indicators/import`` (``{"Indicators": [...]}``, 1 to 500; 200 with a result per indicator),
``DELETE /api/indicators/{id}`` (204, 404) and ``POST /api/indicators/BatchDelete`` (``{"IndicatorIds": [...]}``,
1 to 500; 204, 400, 404 and nothing deleted when any id is not found). Pages under
https://learn.microsoft.com/defender-endpoint/api/: get-ti-indicators-collection, post-ti-indicator,
import-ti-indicators, delete-ti-indicator-by-id, batch-delete-ti-indicators. The rules of one tenant's
indicators (ownership, the cap, validation) are in :mod:`emulator.defender.indicator_book`.

Control routes: ``GET /_emulator/tenants/{tid}/indicators`` (ground truth: every active indicator with
its creator, and the write counts), ``POST`` the same path to add indicators as someone else (a portal
user, another app) or as the partner app, and ``PUT /_emulator/indicators/settings`` (``max_active``).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from aiohttp import web

from emulator.defender.indicator_book import Creator, IndicatorBook, IndicatorRefused
from emulator.defender.jsonfmt import ApiError, json_response
from emulator.defender.mde import read_json
from emulator.defender.odata import Schema
from emulator.defender.paging import CollectionRules, envelope, query
from emulator.defender.pipeline import Ctx

if TYPE_CHECKING:
    from emulator.defender import DefenderService

# The application permissions of every indicators route (any one of them).
TI_ROLES = ("Ti.ReadWrite", "Ti.ReadWrite.All")
BATCH_MAX = 500  # indicators per import, ids per BatchDelete
INDICATOR_SCHEMA = Schema(
    "Indicator",
    {
        **dict.fromkeys(("expirationTime", "creationTimeDateTimeUtc"), "datetime"),
        "generateAlert": "bool",
        **dict.fromkeys(
            ("application", "createdByDisplayName", "title", "indicatorValue", "indicatorType", "createdBy",
             "action", "severity"),
            "string",
        ),
    },
)  # fmt: skip
_RULES = CollectionRules(INDICATOR_SCHEMA, max_top=10_000)


def _all(ctx: Ctx) -> bool:
    """Ti.ReadWrite.All sees every indicator; Ti.ReadWrite only the ones the app created."""
    return "Ti.ReadWrite.All" in ctx.caller.roles


def _creator(ctx: Ctx) -> Creator:
    return Creator(ctx.caller.app_id, ctx.caller.app_name)


async def list_indicators(ctx: Ctx) -> web.Response:
    records = ctx.data.indicators.visible(ctx.caller.app_id, all_indicators=_all(ctx), now=ctx.now)
    size = ctx.state.settings.alerts_page_size
    page = query(ctx.request, records, _RULES, size, host=ctx.config.host)
    return json_response(envelope(ctx.context("Indicators"), page.items, page.next_link, page.shape, count=page.count))


async def submit_indicator(ctx: Ctx) -> web.Response:
    body = await read_json(ctx)
    try:
        record = ctx.data.indicators.submit(
            body, _creator(ctx), all_indicators=_all(ctx), now=ctx.now, cap=ctx.state.settings.max_active_indicators
        )
    except IndicatorRefused as exc:
        raise ApiError(400, "BadRequest", str(exc)) from exc
    return json_response({"@odata.context": ctx.context("Indicators/$entity"), **record})


def _batch(body: Any, name: str) -> list[Any]:
    """The one list property of an import or BatchDelete body (names matched without case, as ASP.NET binds)."""
    value = next((v for k, v in body.items() if k.lower() == name.lower()), None) if isinstance(body, dict) else None
    if not isinstance(value, list) or not value:
        raise ApiError(400, "BadRequest", f"Request body is incorrect: {name} must be a non-empty list")
    if len(value) > BATCH_MAX:
        raise ApiError(400, "BadRequest", f"Request body is incorrect: at most {BATCH_MAX} {name} per call")
    return value


async def import_indicators(ctx: Ctx) -> web.Response:
    items = _batch(await read_json(ctx), "Indicators")
    book, creator, cap = ctx.data.indicators, _creator(ctx), ctx.state.settings.max_active_indicators
    results = []
    for item in items:
        value = item.get("indicatorValue") if isinstance(item, dict) else None
        try:
            record = book.submit(item, creator, all_indicators=_all(ctx), now=ctx.now, cap=cap)
            results.append({"id": record["id"], "indicator": value, "isFailed": False, "failureReason": None})
        except IndicatorRefused as exc:
            results.append({"id": None, "indicator": value, "isFailed": True, "failureReason": str(exc)})
    return json_response({"value": results})  # the shape of the import-ti-indicators response example


async def delete_indicator(ctx: Ctx) -> web.Response:
    missing = ctx.data.indicators.delete([ctx.args[0]], ctx.caller.app_id, all_indicators=_all(ctx), now=ctx.now)
    if missing:
        raise ApiError(404, "NotFound", f"Indicator {ctx.args[0]} was not found")
    return web.Response(status=204)


async def batch_delete(ctx: Ctx) -> web.Response:
    ids = _batch(await read_json(ctx), "IndicatorIds")
    if not all(isinstance(i, str | int) and not isinstance(i, bool) and str(i).isdigit() for i in ids):
        raise ApiError(400, "BadRequest", "Request body is incorrect: every indicator id must be a number")
    book = ctx.data.indicators
    missing = book.delete([str(i) for i in ids], ctx.caller.app_id, all_indicators=_all(ctx), now=ctx.now)
    if missing:
        raise ApiError(404, "NotFound", f"Indicator(s) {', '.join(missing[:10])} were not found; nothing was deleted")
    return web.Response(status=204)


# -- control routes --------------------------------------------------------------------------------------


def _control_error(message: str, status: int = 400) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _seed_creator(service: DefenderService, name: Any) -> Creator | None:
    if name == "user":
        return Creator("analyst@customer.example", "analyst@customer.example", "User")
    if name == "partner-app":
        app = service.world.apps.get("commercial")
        return Creator(app.client_id, app.display_name, "AadApp") if app else None
    if name == "other-app":
        return Creator("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "Another SOAR", "AadApp")
    return None


def _seed_bodies(body: dict[str, Any]) -> list[Any]:
    if "indicators" in body:
        items = body["indicators"]
        return items if isinstance(items, list) else []
    count = body.get("count", 0)
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= 20_000:
        raise ValueError(f"count must be an integer from 0 to 20000, got {count!r}")
    salt = uuid.uuid4().hex[:24]
    return [
        {"indicatorValue": f"{salt}{n:040x}"[:64], "indicatorType": "FileSha256", "action": "Block",
         "title": f"seeded {n}", "description": "added through the control API"}
        for n in range(count)
    ]  # fmt: skip


def indicator_control_routes(service: DefenderService) -> list[web.RouteDef]:
    async def ground_truth(request: web.Request) -> web.Response:
        tenant_id = request.match_info["tid"].lower()
        if service.world.tenant(tenant_id) is None:
            return _control_error(f"no tenant {tenant_id!r}", 404)
        book: IndicatorBook = service.tenant_data(tenant_id).indicators
        records = book.active(service.world.clock.now())
        return json_response({"indicators": records, "active": len(records), "writes": dict(book.writes)})

    async def seed(request: web.Request) -> web.Response:
        tenant_id = request.match_info["tid"].lower()
        body = await request.json() if request.can_read_body else {}
        if service.world.tenant(tenant_id) is None or not isinstance(body, dict):
            return _control_error(f"no tenant {tenant_id!r} (or the body is not an object)", 404)
        creator = _seed_creator(service, body.get("creator", "user"))
        if creator is None:
            return _control_error("creator must be user, partner-app or other-app")
        try:
            items = _seed_bodies(body)
        except ValueError as exc:
            return _control_error(str(exc))
        book, now = service.tenant_data(tenant_id).indicators, service.world.clock.now()
        cap = service.state.settings.max_active_indicators
        try:
            ids = [book.submit(i, creator, all_indicators=True, now=now, cap=cap)["id"] for i in items]
        except IndicatorRefused as exc:
            return _control_error(f"indicators: {exc}")
        return web.json_response({"ids": ids, "active": len(book.active(now))}, status=201)

    async def put_settings(request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else {}
        cap = body.get("max_active") if isinstance(body, dict) else None
        if isinstance(cap, bool) or not isinstance(cap, int) or not 0 <= cap <= 1_000_000:
            return _control_error(f"max_active must be an integer from 0 to 1000000, got {cap!r}")
        service.state.settings.max_active_indicators = cap
        return web.json_response({"max_active": cap})

    return [
        web.get("/_emulator/tenants/{tid}/indicators", ground_truth),
        web.post("/_emulator/tenants/{tid}/indicators", seed),
        web.put("/_emulator/indicators/settings", put_settings),
    ]
