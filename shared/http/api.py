"""The HTTP API without the Functions runtime: one ``ApiRequest`` in, one ``ApiResponse`` out.

``shared/triggers/http.py`` only converts ``func.HttpRequest``/``HttpResponse`` to and from these, so
everything here is testable (and fuzzable) in-process. Per request, in this order: body size (413), the
caller (401: bearer token or function key, ``shared.callers.authenticator``) and the route's app role
(403), signature (401, when a signing secret is configured), query parameters, the tenant id and the
one registry read that finds the tenant and decides the caller's tenant scope (404/403), content type
(415) and body (400/422), the tenant's allow-list (403), ``Idempotency-Key``, then the one service call. Every
error becomes RFC 9457 problem+json (``shared.http.problems``). Every POST and PATCH is audited, whatever its
outcome, and so is every refusal of a role or scope on any route, before the response leaves
(``shared.actions.audit``); if the audit write fails the caller gets 503, not a success nobody recorded.
The triage routes (``shared.http.triage_api``) are served here too, with the same order of checks and the
same audit.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol

from shared.actions.audit import INVALID_TENANT_PARTITION, AuditRecord, AuditStore, changes_text, outcome_for
from shared.actions.idempotency import IdempotencyStore, StoredResponse, fingerprint, parse_key
from shared.actions.service import ActionResult, ActionService, AuditNote
from shared.callers.authenticator import Authenticator, KeyAuthenticator
from shared.callers.scope import EVERY_TENANT, CallerScope
from shared.domain.catalogue import CANCEL
from shared.domain.errors import OutOfScopeError, RelayError, RoleRequiredError, ValidationError
from shared.domain.job import Job, new_job
from shared.domain.tenant import Tenant
from shared.http import inputs as v
from shared.http.openapi import build_document
from shared.http.problems import PROBLEM_JSON, Problem, problem_from_error
from shared.http.routes import ROUTE_PREFIX, Route
from shared.http.signing import SignatureVerifier
from shared.triage.service import TriageNote, TriageService

logger = logging.getLogger("defender_relay.http")
DEFAULT_WAIT_SECONDS: Final = 60


@dataclass(frozen=True)
class ApiRequest:
    method: str
    path_and_query: str  # the request target as sent, e.g. /api/tenants/…/isolate?wait=true
    route_params: Mapping[str, str]
    params: Mapping[str, str]
    headers: Mapping[str, str]  # lower-case names
    body: bytes


@dataclass(frozen=True)
class ApiResponse:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


class JobSender(Protocol):
    def send(self, job: Job, *, delay_seconds: int = 0) -> None: ...


@dataclass
class _Call:
    """What one request has revealed so far; becomes its audit record."""

    request_id: str
    caller: str
    action: str
    caller_app_id: str = ""
    caller_object_id: str = ""
    auth: str = "unauthenticated"
    scope: CallerScope = EVERY_TENANT  # the tenants the caller may reach, checked where the tenant is read
    tenant: Tenant | None = None  # read once per request, with the scope, before the handler runs
    refused: bool = False  # a role or scope refusal: audited on every route, not only on POSTs
    tenant_id: str = INVALID_TENANT_PARTITION
    machine: str = ""
    comment: str = ""
    idempotency_key: str = ""
    replayed: bool = False
    note: AuditNote = field(default_factory=AuditNote)
    triage: TriageNote = field(default_factory=TriageNote)

    @property
    def read_tenant(self) -> Tenant:
        if self.tenant is None:  # a handler runs only after _dispatch read the tenant
            raise RuntimeError("the tenant was not read before the handler")
        return self.tenant


_Handler = Callable[[Route, ApiRequest, "_Call"], ApiResponse]


class HttpApi:
    def __init__(
        self,
        *,
        service: ActionService,
        triage: TriageService,
        audit: AuditStore,
        idempotency: IdempotencyStore,
        jobs: JobSender,
        verifier: SignatureVerifier | None = None,
        authenticator: Authenticator | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._service = service
        self._triage = triage
        self._authenticator = authenticator or KeyAuthenticator()
        self._audit_store = audit
        self._idempotency = idempotency
        self._jobs = jobs
        self._verifier = verifier
        self._clock = clock
        # Every operation of the route table this class serves, by name: a route whose operation is not
        # here fails at start-up (``tests/functional/test_http_routes.py``), never with a 500 at run time.
        self._handlers: Mapping[str, _Handler] = {
            "machine-action": self._machine_action,
            "action-status": self._action_status,
            "action-cancel": self._action_cancel,
            "lookup": self._lookup,
            "sweep": self._sweep,
            "audit": self._audit,
            **self._triage_handlers(),
        }

    @property
    def operations(self) -> frozenset[str]:
        """The route-table operations this API serves (``openapi`` included)."""
        return frozenset(self._handlers) | {"openapi"}

    def handle(self, route: Route, request: ApiRequest) -> ApiResponse:
        started = time.perf_counter()
        call = _Call(uuid.uuid4().hex, "unauthenticated", _action_name(route))
        try:
            response = self._dispatch(route, request, call)
        except Exception as exc:  # every error becomes a problem; unexpected ones are logged, never echoed
            call.refused = isinstance(exc, RoleRequiredError | OutOfScopeError)
            response = self._problem(exc, call)
        if route.mutating or call.refused:
            response = self._write_audit(call, response)
        logger.info(
            "%s %s tenant=%s status=%d request_id=%s ms=%.1f",
            route.method, route.function_name, call.tenant_id, response.status, call.request_id,
            (time.perf_counter() - started) * 1000,
        )  # fmt: skip
        return response

    def _dispatch(self, route: Route, request: ApiRequest, call: _Call) -> ApiResponse:
        if request.method.upper() != route.method:
            raise ValidationError(f"method {request.method} is not allowed here; use {route.method}", status=405)
        if len(request.body) > v.MAX_BODY_BYTES:
            raise ValidationError(
                f"request body is {len(request.body)} bytes; the limit is 65,536", field="body", status=413
            )
        self._authenticate(route, request, call)
        if route.operation == "openapi":
            return ApiResponse(200, build_document())
        if self._verifier is not None:
            signed = self._verifier.verify(request.method, request.path_and_query, request.headers, request.body)
            call.auth += f"+hmac({signed})" if signed != "current" else "+hmac"
        v.check_query(request.params, route.query_names)
        call.tenant_id = v.parse_guid(request.route_params.get("tenantId", ""), field="tenantId")
        # The one registry read of the request: exists, enabled, in the caller's scope (403 before the body is
        # even read); the handlers use this tenant, so allow/deny never comes from an older read.
        call.tenant = self._service.tenant(call.tenant_id, scope=call.scope)
        return self._handlers[route.operation](route, request, call)

    def _authenticate(self, route: Route, request: ApiRequest, call: _Call) -> None:
        """Who is calling (401 otherwise) and whether the route's app role is theirs (403 otherwise)."""
        caller = self._authenticator.authenticate(request.headers, request.params)
        call.caller, call.auth = caller.name, caller.auth
        call.caller_app_id, call.caller_object_id, call.scope = caller.app_id, caller.object_id, caller.scope
        # A role refusal belongs in the audit trail of the tenant it was aimed at (checked properly below).
        with contextlib.suppress(ValidationError):
            call.tenant_id = v.parse_guid(request.route_params.get("tenantId", ""), field="tenantId")
        caller.require(route.role)

    def _machine_action(self, route: Route, request: ApiRequest, call: _Call) -> ApiResponse:
        assert route.action is not None
        call.machine = request.route_params.get("machine", "")[:253]
        body = v.parse_json_body(request.body, request.headers.get("content-type"), required=True)
        call.comment = str(body.get("comment", ""))[:1000]
        data = v.parse_action_body(route.action, body)
        ref = v.parse_machine_ref(request.route_params.get("machine", ""))
        wait_seconds = _wait_seconds(request.params)
        key = self._key(request, call)
        tenant = self._service.allow(call.read_tenant, route.action.name)
        spec = route.action

        def run() -> ApiResponse:
            result = self._service.run_machine_action(
                tenant, ref, spec, data, note=call.note, wait_seconds=wait_seconds
            )
            return _action_response(call.tenant_id, result)

        return self._idempotent(call, key, fingerprint(route.function_name, call.tenant_id, ref, data), run)

    def _action_status(self, route: Route, request: ApiRequest, call: _Call) -> ApiResponse:
        action_id = v.parse_guid(request.route_params.get("actionId", ""), field="actionId")
        wait_seconds = _wait_seconds(request.params)
        result = self._service.get_action(call.read_tenant, action_id, wait_seconds=wait_seconds)
        return _action_response(call.tenant_id, result, created=False)

    def _action_cancel(self, route: Route, request: ApiRequest, call: _Call) -> ApiResponse:
        action_id = v.parse_guid(request.route_params.get("actionId", ""), field="actionId")
        body = v.parse_json_body(request.body, request.headers.get("content-type"), required=True)
        call.comment = str(body.get("comment", ""))[:1000]
        v.check_fields(body, ("comment",))
        comment = v.parse_comment(body.get("comment"))
        key = self._key(request, call)
        tenant = self._service.allow(call.read_tenant, CANCEL)

        def run() -> ApiResponse:
            result = self._service.cancel_action(tenant, action_id, comment, note=call.note)
            return _action_response(call.tenant_id, result, created=False)

        return self._idempotent(call, key, fingerprint(route.function_name, call.tenant_id, action_id, comment), run)

    def _lookup(self, route: Route, request: ApiRequest, call: _Call) -> ApiResponse:
        ref = v.parse_lookup(request.params)
        found = self._service.lookup(call.read_tenant, ref)
        return ApiResponse(200, {"query": {ref.kind: ref.value}, "match": "exact", "machines": found})

    def _sweep(self, route: Route, request: ApiRequest, call: _Call) -> ApiResponse:
        body = v.parse_json_body(request.body, request.headers.get("content-type"), required=False)
        v.check_fields(body, ())
        key = self._key(request, call)
        tenant = call.read_tenant

        def run() -> ApiResponse:
            jobs = [new_job(tenant.tenant_id, feed, mode="manual", now=self._clock()) for feed in sorted(tenant.feeds)]
            for job in jobs:
                self._jobs.send(job)
            return ApiResponse(
                202, {"tenantId": tenant.tenant_id, "jobs": [{"feed": j.feed, "sweepId": j.sweep_id} for j in jobs]}
            )

        return self._idempotent(call, key, fingerprint(route.function_name, call.tenant_id), run)

    def _audit(self, route: Route, request: ApiRequest, call: _Call) -> ApiResponse:
        since_raw = request.params.get("since")
        since = v.parse_time(since_raw, field="since") if since_raw else self._clock() - timedelta(hours=24)
        limit = v.parse_int(request.params.get("limit"), field="limit", low=1, high=1000, default=100)
        records = self._audit_store.list(call.tenant_id, since=since, limit=limit)
        return ApiResponse(
            200, {"tenantId": call.tenant_id, "since": since.isoformat(), "records": [r.to_json() for r in records]}
        )

    def _triage_handlers(self) -> dict[str, _Handler]:
        # Imported here: the triage handlers build this module's ApiResponse.
        from shared.http.triage_api import TriageHandlers

        return TriageHandlers(
            service=self._triage, authorize=self._service.authorize, key=self._key, idempotent=self._idempotent
        ).handlers

    def _key(self, request: ApiRequest, call: _Call) -> str | None:
        key = parse_key(request.headers.get("idempotency-key"))
        call.idempotency_key = key or ""
        return key

    def _idempotent(self, call: _Call, key: str | None, print_: str, run: Callable[[], ApiResponse]) -> ApiResponse:
        if key is None:
            return run()
        stored = self._idempotency.claim(call.tenant_id, key, print_, now=self._clock())
        if stored is not None:
            call.replayed = True
            action = stored.body.get("action") if isinstance(stored.body, dict) else None
            call.note.upstream_action_id = str(action.get("id", "")) if isinstance(action, dict) else ""
            return ApiResponse(stored.status, stored.body, {**stored.headers, "Idempotent-Replayed": "true"})
        try:
            response = run()
        except BaseException:
            self._idempotency.release(call.tenant_id, key)  # failed attempts are not stored: a retry runs again
            raise
        self._idempotency.complete(
            call.tenant_id, key, StoredResponse(response.status, response.body, response.headers)
        )
        return response

    def _problem(self, exc: Exception, call: _Call) -> ApiResponse:
        problem = problem_from_error(exc, now=self._clock())
        if problem.status >= 500 and not isinstance(exc, RelayError):
            logger.exception("unexpected error request_id=%s", call.request_id)
        return problem_response(problem, call.request_id)

    def _write_audit(self, call: _Call, response: ApiResponse) -> ApiResponse:
        body = response.body if isinstance(response.body, dict) and response.status >= 300 else {}
        record = AuditRecord(
            tenant_id=call.tenant_id, time=self._clock(), request_id=call.request_id, caller=call.caller,
            caller_app_id=call.caller_app_id, caller_object_id=call.caller_object_id, auth=call.auth,
            action=call.action, outcome=outcome_for(response.status, replayed=call.replayed), status=response.status,
            machine=call.machine, machine_id=call.note.machine_id or call.triage.machine_id, comment=call.comment,
            upstream_action_id=call.note.upstream_action_id, problem_type=str(body.get("type", "")),
            detail=str(body.get("detail", ""))[:1000], idempotency_key=call.idempotency_key,
            target=call.triage.target, changes=changes_text(call.triage.changes),
        )  # fmt: skip
        upstream = call.note.upstream_action_id
        done = f" (Defender action {upstream} was {record.outcome})" if upstream else ""
        return audited(self._audit_store, record, response, call.request_id, done=done)


def problem_response(problem: Problem, request_id: str) -> ApiResponse:
    body = problem.to_json(instance=f"urn:defender-relay:request:{request_id}")
    return ApiResponse(problem.status, body, dict(problem.headers), content_type=PROBLEM_JSON)


def audited(
    store: AuditStore, record: AuditRecord, response: ApiResponse, request_id: str, *, done: str = ""
) -> ApiResponse:
    """``response`` once ``record`` is written; if the write fails, 503 ``audit-unavailable`` instead.

    Every write route answers this way (docs/operations.md "Audit"): a caller never gets a success nobody
    recorded. ``done`` says what already happened upstream, so the caller knows what the retry finds.
    """
    try:
        store.write(record)
    except Exception:
        logger.exception("audit write failed request_id=%s", request_id)
        detail = f"the audit record could not be written, so the outcome is not confirmed{done}; retry"
        return problem_response(Problem(503, "audit-unavailable", detail, headers={"Retry-After": "5"}), request_id)
    return response


def _action_name(route: Route) -> str:
    if route.action is not None:
        return route.action.name
    return {"action-cancel": CANCEL}.get(route.operation, route.operation)


def _wait_seconds(params: Mapping[str, str]) -> int:
    if not v.parse_bool(params.get("wait"), field="wait"):
        if "waitSeconds" in params:
            raise ValidationError("waitSeconds needs wait=true", field="waitSeconds")
        return 0
    return v.parse_int(params.get("waitSeconds"), field="waitSeconds", low=1, high=200, default=DEFAULT_WAIT_SECONDS)


def _action_response(tenant_id: str, result: ActionResult, *, created: bool = True) -> ApiResponse:
    status_url = f"/{ROUTE_PREFIX}/tenants/{tenant_id}/actions/{result.action.get('id')}"
    body: dict[str, Any] = {"action": result.action, "final": result.final, "statusUrl": status_url}
    if result.machine:
        body["machine"] = result.machine
    if result.final or not created:
        return ApiResponse(200, body)
    return ApiResponse(202, body, {"Location": status_url})
