"""The HTTP API without the Functions runtime: one ``ApiRequest`` in, one ``ApiResponse`` out.

``shared/triggers/http.py`` only converts ``func.HttpRequest``/``HttpResponse`` to and from these, so
everything here is testable (and fuzzable) in-process. Per request, in this order: body size (413),
signature (401, when a signing secret is configured), query parameters, content type (415) and body
(400/422), tenant and allow-list (404/403), ``Idempotency-Key``, then the one service call. Every
error becomes RFC 9457 problem+json (``shared.http.problems``). Every POST and PATCH is audited, whatever its
outcome, before the response leaves (``shared.actions.audit``); if the audit write fails the caller gets 503,
not a success nobody recorded. The triage routes (``shared.http.triage_api``) are served here too, with the
same order of checks and the same audit.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol

from shared.actions.audit import INVALID_TENANT_PARTITION, AuditRecord, AuditStore, changes_text, outcome_for
from shared.actions.idempotency import IdempotencyStore, StoredResponse, fingerprint, parse_key
from shared.actions.service import ActionResult, ActionService, AuditNote
from shared.domain.catalogue import CANCEL
from shared.domain.errors import RelayError, ValidationError
from shared.domain.job import Job, new_job
from shared.http import inputs as v
from shared.http.openapi import build_document
from shared.http.problems import PROBLEM_JSON, Problem, problem_from_error
from shared.http.routes import ROUTE_PREFIX, Route
from shared.http.signing import SignatureVerifier
from shared.triage.service import TriageNote, TriageService

logger = logging.getLogger("defender_relay.http")
CALLER_HEADER: Final = "x-relay-caller"
_CALLER: Final = re.compile(r"[\x20-\x7e]{1,128}")
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
    tenant_id: str = INVALID_TENANT_PARTITION
    machine: str = ""
    comment: str = ""
    idempotency_key: str = ""
    replayed: bool = False
    note: AuditNote = field(default_factory=AuditNote)
    triage: TriageNote = field(default_factory=TriageNote)


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
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._service = service
        self._triage = triage
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
        call = _Call(uuid.uuid4().hex, caller_of(request), _action_name(route))
        try:
            response = self._dispatch(route, request, call)
        except Exception as exc:  # every error becomes a problem; unexpected ones are logged, never echoed
            response = self._problem(exc, call)
        if route.mutating:
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
        if route.operation == "openapi":
            return ApiResponse(200, build_document())
        if self._verifier is not None:
            self._verifier.verify(request.method, request.path_and_query, request.headers, request.body)
        v.check_query(request.params, route.query_names)
        call.tenant_id = v.parse_guid(request.route_params.get("tenantId", ""), field="tenantId")
        return self._handlers[route.operation](route, request, call)

    def _machine_action(self, route: Route, request: ApiRequest, call: _Call) -> ApiResponse:
        assert route.action is not None
        call.machine = request.route_params.get("machine", "")[:253]
        body = v.parse_json_body(request.body, request.headers.get("content-type"), required=True)
        call.comment = str(body.get("comment", ""))[:1000]
        data = v.parse_action_body(route.action, body)
        ref = v.parse_machine_ref(request.route_params.get("machine", ""))
        wait_seconds = _wait_seconds(request.params)
        key = self._key(request, call)
        tenant = self._service.authorize(call.tenant_id, route.action.name)
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
        result = self._service.get_action(self._service.tenant(call.tenant_id), action_id, wait_seconds=wait_seconds)
        return _action_response(call.tenant_id, result, created=False)

    def _action_cancel(self, route: Route, request: ApiRequest, call: _Call) -> ApiResponse:
        action_id = v.parse_guid(request.route_params.get("actionId", ""), field="actionId")
        body = v.parse_json_body(request.body, request.headers.get("content-type"), required=True)
        call.comment = str(body.get("comment", ""))[:1000]
        v.check_fields(body, ("comment",))
        comment = v.parse_comment(body.get("comment"))
        key = self._key(request, call)
        tenant = self._service.authorize(call.tenant_id, CANCEL)

        def run() -> ApiResponse:
            result = self._service.cancel_action(tenant, action_id, comment, note=call.note)
            return _action_response(call.tenant_id, result, created=False)

        return self._idempotent(call, key, fingerprint(route.function_name, call.tenant_id, action_id, comment), run)

    def _lookup(self, route: Route, request: ApiRequest, call: _Call) -> ApiResponse:
        ref = v.parse_lookup(request.params)
        found = self._service.lookup(self._service.tenant(call.tenant_id), ref)
        return ApiResponse(200, {"query": {ref.kind: ref.value}, "match": "exact", "machines": found})

    def _sweep(self, route: Route, request: ApiRequest, call: _Call) -> ApiResponse:
        body = v.parse_json_body(request.body, request.headers.get("content-type"), required=False)
        v.check_fields(body, ())
        key = self._key(request, call)
        tenant = self._service.tenant(call.tenant_id)

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
        self._service.tenant(call.tenant_id)
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
            action=call.action, outcome=outcome_for(response.status, replayed=call.replayed), status=response.status,
            machine=call.machine, machine_id=call.note.machine_id or call.triage.machine_id, comment=call.comment,
            upstream_action_id=call.note.upstream_action_id, problem_type=str(body.get("type", "")),
            detail=str(body.get("detail", ""))[:1000], idempotency_key=call.idempotency_key,
            target=call.triage.target, changes=changes_text(call.triage.changes),
        )  # fmt: skip
        try:
            self._audit_store.write(record)
        except Exception:
            logger.exception("audit write failed request_id=%s", call.request_id)
            done = (
                f" (Defender action {call.note.upstream_action_id} was {record.outcome})"
                if call.note.upstream_action_id
                else ""
            )
            detail = f"the audit record could not be written, so the outcome is not confirmed{done}; retry"
            return problem_response(
                Problem(503, "audit-unavailable", detail, headers={"Retry-After": "5"}), call.request_id
            )
        return response


def problem_response(problem: Problem, request_id: str) -> ApiResponse:
    body = problem.to_json(instance=f"urn:defender-relay:request:{request_id}")
    return ApiResponse(problem.status, body, dict(problem.headers), content_type=PROBLEM_JSON)


def caller_of(request: ApiRequest) -> str:
    """The caller's declared name (``X-Relay-Caller``) plus a fingerprint of the function key used.

    The Python worker does not receive the host's key-id claim (``…/claims/keyid``, a .NET-only
    ClaimsPrincipal), so the key is identified by a short SHA-256 fingerprint: enough to tell keys
    apart in the audit trail, useless to an attacker. The declared name is not proven by anything.
    """
    declared = request.headers.get(CALLER_HEADER, "").strip()
    name = declared if _CALLER.fullmatch(declared) else ("invalid-caller-header" if declared else "anonymous")
    key = request.headers.get("x-functions-key") or request.params.get("code")
    if key:
        return f"{name} (key {hashlib.sha256(key.encode('utf-8')).hexdigest()[:12]})"
    return name


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
