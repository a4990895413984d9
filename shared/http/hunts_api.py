"""``/api/hunts`` and ``/api/hunt-schedules``: start a hunt across tenants, read its status and its merged rows,
and keep saved hunts (docs/hunting.md, docs/soar-integration.md "Hunting across tenants").

Same auth as every route (the caller, by function key or bearer token, with the app role ``Relay.Hunt``; the
HMAC signature when one is configured), same request checks as ``HttpApi``, every error problem+json. A
caller with a tenant scope hunts only in its tenants: ``"all"`` (or no selection) means every tenant in its
scope, a named tenant outside it is 403, and a saved hunt it creates names its tenants explicitly, so the
timer never takes it further. A hunt's status and rows, and a saved hunt, are the caller's to read or
remove only when every tenant they concern is in its scope. Every POST is audited in partition ``_hunts`` of the
audit table before the answer leaves (who asked for which query over which tenants); each tenant a hunt runs in
gets its own record from the job that ran it (``shared.actions.audit.HuntAuditTrail``).

Results come a page at a time (``limit`` rows, at most 50,000; default 5,000), NDJSON or CSV, with a ``Link:
<...>; rel="next"`` header while more remain: a page is read from one stored chunk after another, so no result
is ever held whole in memory.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final, Protocol
from urllib.parse import quote

from shared.actions.audit import HUNTS_PARTITION, AuditRecord, AuditStore, outcome_for
from shared.callers.authenticator import Authenticator, KeyAuthenticator
from shared.callers.identity import Caller
from shared.callers.scope import CallerScope, covers, filter_in_scope, in_scope
from shared.domain.errors import OutOfScopeError, RelayError, RoleRequiredError, ValidationError
from shared.domain.tenant import Tenant
from shared.http import inputs as v
from shared.http.api import ApiRequest, ApiResponse, audited, problem_response
from shared.http.problems import problem_from_error
from shared.http.routes import ROUTE_PREFIX, Route
from shared.http.signing import SignatureVerifier
from shared.hunting.model import HuntSpec, parse_hunt_id, parse_query
from shared.hunting.reader import parse_format
from shared.hunting.schedules import parse_name, parse_schedule_id
from shared.hunting.service import HuntService, ScheduleRequest, tenants_of
from shared.hunting.status import hunt_json, summary_line

logger = logging.getLogger("defender_relay.http")
DEFAULT_PAGE_ROWS: Final = 5_000
MAX_PAGE_ROWS: Final = 50_000
HUNT_FIELDS: Final = ("query", "timespan", "tenants", "name")
SCHEDULE_FIELDS: Final = ("name", "query", "schedule", "timespan", "tenants")
_Handler = Callable[[ApiRequest, dict[str, str], Caller], ApiResponse]


class TenantLister(Protocol):
    def list(self, *, enabled_only: bool = False) -> Any: ...


class HuntsApi:
    def __init__(
        self,
        *,
        service: HuntService,
        audit: AuditStore,
        verifier: SignatureVerifier | None = None,
        authenticator: Authenticator | None = None,
        tenants: TenantLister | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._service = service
        self._audit = audit
        self._verifier = verifier
        self._authenticator = authenticator or KeyAuthenticator()
        self._tenants = tenants  # the registry, for scope decisions over many tenants (read once per request)
        self._clock = clock
        self._handlers: Mapping[str, _Handler] = {
            "hunt-start": self._start,
            "hunt-status": self._status,
            "hunt-results": self._results,
            "schedule-add": self._schedule_add,
            "schedule-list": self._schedule_list,
            "schedule-remove": self._schedule_remove,
        }

    @property
    def operations(self) -> frozenset[str]:
        return frozenset(self._handlers)

    def handle(self, route: Route, request: ApiRequest) -> ApiResponse:
        request_id = uuid.uuid4().hex
        note: dict[str, str] = {}  # what the audit record says about the request
        caller: Caller | None = None
        try:
            if len(request.body) > v.MAX_BODY_BYTES:
                raise ValidationError("request body is over 65,536 bytes", field="body", status=413)
            caller = self._authenticator.authenticate(request.headers, request.params)
            caller.require(route.role)
            if self._verifier is not None:
                signed = self._verifier.verify(request.method, request.path_and_query, request.headers, request.body)
                note["auth"] = caller.auth + (f"+hmac({signed})" if signed != "current" else "+hmac")
            v.check_query(request.params, route.query_names)
            response = self._handlers[route.operation](request, note, caller)
        except Exception as exc:  # every error becomes a problem; unexpected ones are logged, never echoed
            problem = problem_from_error(exc, now=self._clock())
            if problem.status >= 500 and not isinstance(exc, RelayError):
                logger.exception("%s failed request_id=%s", route.function_name, request_id)
            response = problem_response(problem, request_id)
            note["refused"] = "yes" if isinstance(exc, RoleRequiredError | OutOfScopeError) else ""
        if route.mutating or note.get("refused"):
            response = self._write_audit(route, request_id, note, caller, response)
        return response

    def _registry(self) -> list[Tenant]:
        return list(self._tenants.list()) if self._tenants is not None else []

    def _selection(self, value: object, scope: CallerScope) -> tuple[str, ...] | None:
        """The tenants a hunt or saved hunt may reach: named ones each in scope (403 otherwise), and "all" from
        a caller with a narrower scope as the enabled tenants in it, listed."""
        named = tenants_of(value)
        if scope.all_tenants:
            return named
        registry = self._registry()
        if named is None:
            return tuple(t.tenant_id for t in filter_in_scope(scope, (t for t in registry if t.enabled)))
        outside = next((t for t in named if not covers(scope, [t], registry)), None)
        if outside is not None:
            raise OutOfScopeError(
                f"tenant {outside} is outside this caller's scope ({scope.describe()})", tenant_id=outside
            )
        return named

    def _readable(self, scope: CallerScope, tenant_ids: list[str] | tuple[str, ...] | None, what: str) -> None:
        if scope.all_tenants:
            return
        if tenant_ids is None or not covers(scope, tenant_ids, self._registry()):
            raise OutOfScopeError(
                f"{what} reaches tenants outside this caller's scope ({scope.describe()})", tenant_id="*"
            )

    def _start(self, request: ApiRequest, note: dict[str, str], caller: Caller) -> ApiResponse:
        body = v.parse_json_body(request.body, request.headers.get("content-type"), required=True)
        v.check_fields(body, HUNT_FIELDS)
        note["comment"] = str(body.get("query", ""))[:1000]
        spec = HuntSpec(
            query=parse_query(body.get("query")),
            timespan=_text(body, "timespan"),
            tenant_ids=self._selection(body.get("tenants"), caller.scope),
            requested_by=caller.label,
            name=str(body.get("name") or "")[:100],
        )
        scope = caller.scope
        hunt = self._service.start(spec, allow=None if scope.all_tenants else lambda t: in_scope(scope, t))
        note["detail"] = f"hunt {hunt.hunt_id} queued in {hunt.tenant_count} tenant(s)"
        status_url = f"/{ROUTE_PREFIX}/hunts/{hunt.hunt_id}"
        document = {"huntId": hunt.hunt_id, "state": "probing", "tenants": hunt.tenant_count,
                    "statusUrl": status_url, "resultsUrl": f"{status_url}/results"}  # fmt: skip
        return ApiResponse(202, document, {"Location": status_url})

    def _status(self, request: ApiRequest, note: dict[str, str], caller: Caller) -> ApiResponse:
        hunt, runs = self._service.status(parse_hunt_id(request.route_params.get("huntId", "")))
        self._readable(caller.scope, [r.tenant_id for r in runs], f"hunt {hunt.hunt_id}")
        return ApiResponse(200, hunt_json(hunt, runs, base_path=f"/{ROUTE_PREFIX}/hunts"))

    def _results(self, request: ApiRequest, note: dict[str, str], caller: Caller) -> ApiResponse:
        hunt_id = parse_hunt_id(request.route_params.get("huntId", ""))
        if not caller.scope.all_tenants:
            _hunt, runs = self._service.status(hunt_id)
            self._readable(caller.scope, [r.tenant_id for r in runs], f"hunt {hunt_id}")
        fmt = parse_format(request.params.get("format"))
        limit = v.parse_int(
            request.params.get("limit"), field="limit", low=1, high=MAX_PAGE_ROWS, default=DEFAULT_PAGE_ROWS
        )
        hunt, runs, page = self._service.page(hunt_id, fmt=fmt, cursor=request.params.get("cursor"), limit=limit)
        headers = {"X-Relay-Hunt-Status": summary_line(hunt_json(hunt, runs)), "X-Relay-Rows": str(page.rows)}
        if page.next_cursor is not None:
            query = f"format={fmt}&limit={limit}&cursor={quote(page.next_cursor)}"
            headers["Link"] = f'</{ROUTE_PREFIX}/hunts/{hunt_id}/results?{query}>; rel="next"'
        return ApiResponse(200, page.body, headers, content_type=page.content_type)

    def _schedule_add(self, request: ApiRequest, note: dict[str, str], caller: Caller) -> ApiResponse:
        body = v.parse_json_body(request.body, request.headers.get("content-type"), required=True)
        v.check_fields(body, SCHEDULE_FIELDS)
        note["comment"] = str(body.get("query", ""))[:1000]
        saved = self._service.add_schedule(
            ScheduleRequest(
                name=parse_name(body.get("name")),
                query=parse_query(body.get("query")),
                schedule=_text(body, "schedule") or "",
                timespan=_text(body, "timespan"),
                tenant_ids=self._selection(body.get("tenants"), caller.scope),
                created_by=caller.label,
            )
        )
        note["detail"] = f"saved hunt {saved.schedule_id} ({saved.name}) on {saved.schedule}"
        return ApiResponse(201, saved.to_json(), {"Location": f"/{ROUTE_PREFIX}/hunt-schedules"})

    def _schedule_list(self, request: ApiRequest, note: dict[str, str], caller: Caller) -> ApiResponse:
        scope, registry = caller.scope, self._registry() if not caller.scope.all_tenants else []
        saved = [
            s.to_json()
            for s in self._service.list_schedules()
            if scope.all_tenants or (s.tenant_ids is not None and covers(scope, s.tenant_ids, registry))
        ]
        return ApiResponse(200, {"schedules": saved, "count": len(saved)})

    def _schedule_remove(self, request: ApiRequest, note: dict[str, str], caller: Caller) -> ApiResponse:
        schedule_id = parse_schedule_id(request.route_params.get("scheduleId", ""))
        if not caller.scope.all_tenants:
            saved = next((s for s in self._service.list_schedules() if s.schedule_id == schedule_id), None)
            if saved is not None:  # an unknown id is the service's 404 below
                self._readable(caller.scope, saved.tenant_ids, f"saved hunt {schedule_id}")
        removed = self._service.remove_schedule(schedule_id)
        note["detail"] = f"saved hunt {removed.schedule_id} ({removed.name}) removed"
        return ApiResponse(200, {"removed": removed.to_json()})

    def _write_audit(
        self, route: Route, request_id: str, note: dict[str, str], caller: Caller | None, response: ApiResponse
    ) -> ApiResponse:
        problem = response.body if isinstance(response.body, dict) and response.status >= 300 else {}
        action = "hunt" if route.operation == "hunt-start" else route.operation.replace("schedule", "hunt-schedule")
        record = AuditRecord(
            tenant_id=HUNTS_PARTITION, time=self._clock(), request_id=request_id,
            caller=caller.name if caller else "unauthenticated", action=action,
            outcome=outcome_for(response.status), status=response.status,
            comment=note.get("comment", ""), problem_type=str(problem.get("type", "")),
            detail=(note.get("detail") or str(problem.get("detail", "")))[:1000],
            caller_app_id=caller.app_id if caller else "", caller_object_id=caller.object_id if caller else "",
            auth=note.get("auth") or (caller.auth if caller else "unauthenticated"),
        )  # fmt: skip
        return audited(self._audit, record, response, request_id)


def _text(body: Mapping[str, object], name: str) -> str | None:
    value = body.get(name)
    if value is None or isinstance(value, str):
        return value
    raise ValidationError(f"{name} must be a string (got {type(value).__name__})", field=name)
