"""The indicator routes without the Functions runtime (docs/indicators.md, docs/soar-integration.md).

``POST /api/indicators/{push,sync,drift,remove}`` check the whole request (every indicator, every tenant
named: 404 / 403 before anything is queued), then start one job and answer 202 with its id and
``statusUrl``; ``GET /api/indicators/jobs/{jobId}`` reads its progress and per-tenant outcomes;
``GET /api/tenants/{tenantId}/indicators`` lists the relay's indicators in one tenant (one Defender call).

The same checks, in the same order, as ``HttpApi``: method, body size (here 8 MiB: a baseline of 15,000
indicators), the caller and its app role (``Relay.Indicators``), signature, query, body, tenants (each in the
caller's tenant scope; ``"all"`` from a caller with a narrower scope means every tenant in it, listed when the
job starts), ``Idempotency-Key`` (per request partition ``_indicators``:
the same key and body within 24 hours answers the first job again), the call. Every POST is audited
(partition ``_indicators``; each tenant's changes are audited by the job itself, per tenant and
indicator). Every error is problem+json; a set with bad rows is 422 listing each row and field.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from shared.actions.audit import INDICATORS_PARTITION, AuditRecord, AuditStore, outcome_for
from shared.actions.idempotency import IdempotencyStore, StoredResponse, fingerprint, parse_key
from shared.callers.authenticator import Authenticator, KeyAuthenticator
from shared.callers.identity import Caller
from shared.callers.scope import EVERY_TENANT, CallerScope, check_scope, filter_in_scope
from shared.domain.catalogue import INDICATORS
from shared.domain.errors import OutOfScopeError, RelayError, RoleRequiredError, ValidationError
from shared.domain.indicator import IndicatorSetError, parse_indicators
from shared.domain.indicator_values import removal_keys
from shared.domain.tenant import Tenant
from shared.http import inputs as v
from shared.http.api import ApiRequest, ApiResponse, audited, problem_response
from shared.http.indicator_schemas import MAX_INDICATOR_BODY_BYTES, MAX_VALUES
from shared.http.problems import Problem, problem_from_error
from shared.http.routes import ROUTE_PREFIX, Route
from shared.http.signing import SignatureVerifier
from shared.indicators.jobs import Selection, check_job_id
from shared.indicators.service import IndicatorService, JobKind
from shared.indicators.status import job_status
from shared.indicators.stores import JobNotFoundError
from shared.indicators.submit import JobRecords, Messages, Sets, submit_job

logger = logging.getLogger("defender_relay.http")
FANOUT_PARTITION: Final = INDICATORS_PARTITION  # audit and idempotency partition of requests across tenants
_LISTED_FIELDS: Final = (
    "id", "indicatorType", "indicatorValue", "action", "title", "severity", "generateAlert", "expirationTime",
    "rbacGroupNames", "createdBySource", "creationTimeDateTimeUtc", "lastUpdateTime",
)  # fmt: skip


class TenantGate(Protocol):
    """``ActionService`` is one: the tenant if it exists, is enabled, is in the caller's scope, and its allow-list
    names the action."""

    def authorize(self, tenant_id: str, action: str, *, scope: CallerScope = EVERY_TENANT) -> Tenant: ...


class TenantLister(Protocol):
    def list(self, *, enabled_only: bool = False) -> Any: ...


class JobReader(JobRecords, Protocol):
    def get(self, job_id: str) -> Any: ...
    def results(self, job_id: str) -> Any: ...


class IndicatorsApi:
    def __init__(
        self,
        *,
        directory: TenantGate,
        jobs: JobReader,
        sets: Sets,
        queue: Messages,
        service: IndicatorService,
        audit: AuditStore,
        idempotency: IdempotencyStore,
        verifier: SignatureVerifier | None = None,
        authenticator: Authenticator | None = None,
        tenants: TenantLister | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._directory, self._jobs, self._sets, self._queue = directory, jobs, sets, queue
        self._service, self._audit, self._idempotency = service, audit, idempotency
        self._verifier, self._clock = verifier, clock
        self._authenticator = authenticator or KeyAuthenticator()
        self._tenants = tenants  # resolves "all" for a caller whose scope is narrower than every tenant

    def handle(self, route: Route, request: ApiRequest) -> ApiResponse:
        request_id = uuid.uuid4().hex
        note = _Note()
        try:
            response = self._dispatch(route, request, note)
        except Exception as exc:  # every error becomes a problem; unexpected ones are logged, never echoed
            response = problem_response(_problem(exc, self._clock()), request_id)
            if response.status >= 500 and not isinstance(exc, RelayError):
                logger.exception("%s failed request_id=%s", route.function_name, request_id)
            note.refused = isinstance(exc, RoleRequiredError | OutOfScopeError)
        if route.mutating or note.refused:
            response = self._write_audit(route, request_id, note, response)
        return response

    def _dispatch(self, route: Route, request: ApiRequest, note: _Note) -> ApiResponse:
        if request.method.upper() != route.method:
            raise ValidationError(f"method {request.method} is not allowed here; use {route.method}", status=405)
        if len(request.body) > MAX_INDICATOR_BODY_BYTES:
            raise ValidationError(
                f"request body is {len(request.body):,} bytes; the limit is {MAX_INDICATOR_BODY_BYTES:,}",
                field="body",
                status=413,
            )
        note.caller = caller = self._authenticator.authenticate(request.headers, request.params)
        caller.require(route.role)
        if self._verifier is not None:
            signed = self._verifier.verify(request.method, request.path_and_query, request.headers, request.body)
            note.auth_suffix = f"+hmac({signed})" if signed != "current" else "+hmac"
        v.check_query(request.params, route.query_names)
        if route.operation == "indicators-job":
            return self._status(request, caller.scope)
        if route.operation == "indicators-list":
            return self._list(request, caller.scope)
        return self._start(route, request, note, caller)

    def _start(self, route: Route, request: ApiRequest, note: _Note, caller: Caller) -> ApiResponse:
        body = v.parse_json_body(
            request.body, request.headers.get("content-type"), required=True, limit=MAX_INDICATOR_BODY_BYTES
        )
        operation = route.operation
        kind: JobKind = {"indicators-remove": "remove", "indicators-push": "push"}.get(operation, "sync")  # type: ignore[assignment]
        allowed = {"indicators-remove": ("tenants", "values"), "indicators-sync": ("tenants", "indicators", "dryRun")}
        v.check_fields(body, allowed.get(operation, ("tenants", "indicators")))
        selection = self._within_scope(Selection.from_json(body.get("tenants")), caller.scope)
        dry_run = operation == "indicators-drift" or v.parse_bool(_text(body.get("dryRun")), field="dryRun")
        indicators = _indicators(body, self._clock()) if kind != "remove" else []
        targets = _targets(body) if kind == "remove" else []
        for tenant_id in selection.tenant_ids:  # 404 / 403 now, not as a job that fails later
            self._directory.authorize(tenant_id, INDICATORS, scope=caller.scope)
        key = parse_key(request.headers.get("idempotency-key"))
        note.key = key or ""
        print_ = fingerprint(route.function_name, selection.to_json(), dry_run,
                             [i.to_api() for i in indicators], targets)  # fmt: skip

        def run() -> ApiResponse:
            job = submit_job(
                jobs=self._jobs, sets=self._sets, queue=self._queue, kind=kind, selection=selection,
                indicators=indicators, targets=targets, dry_run=dry_run, requested_by=caller.label,
                clock=self._clock,
            )  # fmt: skip
            status_url = f"/{ROUTE_PREFIX}/indicators/jobs/{job.job_id}"
            document = {"jobId": job.job_id, "kind": job.label, "dryRun": dry_run, "statusUrl": status_url,
                        "tenants": selection.to_json(), "size": job.size}  # fmt: skip
            return ApiResponse(202, document, {"Location": status_url})

        response = self._idempotent(key, print_, run)
        note.detail = f"job {response.body.get('jobId')}: {kind} of {len(indicators) or len(targets)} to " + (
            selection.describe()
        )
        return response

    def _idempotent(self, key: str | None, print_: str, run: Callable[[], ApiResponse]) -> ApiResponse:
        if key is None:
            return run()
        stored = self._idempotency.claim(FANOUT_PARTITION, key, print_, now=self._clock())
        if stored is not None:
            return ApiResponse(stored.status, stored.body, {**stored.headers, "Idempotent-Replayed": "true"})
        try:
            response = run()
        except BaseException:
            self._idempotency.release(FANOUT_PARTITION, key)  # a failed attempt is not stored: a retry runs again
            raise
        self._idempotency.complete(
            FANOUT_PARTITION, key, StoredResponse(response.status, response.body, response.headers)
        )
        return response

    def _within_scope(self, selection: Selection, scope: CallerScope) -> Selection:
        """``"all"`` from a caller with a narrower scope: every enabled tenant in it, listed now (the job then
        fans out to exactly those); a named tenant outside the scope is refused by ``authorize``."""
        if not selection.all or scope.all_tenants:
            return selection
        listed = self._tenants.list(enabled_only=True) if self._tenants is not None else []
        ids = tuple(t.tenant_id for t in filter_in_scope(scope, listed))
        if not ids:
            raise OutOfScopeError(f"no registered tenant is in this caller's scope ({scope.describe()})", tenant_id="*")
        return Selection(tenant_ids=ids)

    def _status(self, request: ApiRequest, scope: CallerScope) -> ApiResponse:
        job_id = check_job_id(request.route_params.get("jobId", ""))
        job = self._jobs.get(job_id)
        # A job's outcomes name its tenants: readable by a caller that may reach every one of them.
        if not scope.all_tenants:
            if job.selection.all:
                raise OutOfScopeError("this job reaches every tenant, beyond this caller's scope", tenant_id="*")
            for tenant_id in job.selection.tenant_ids:
                check_scope(scope, tenant_id, lambda t: self._directory.authorize(t, INDICATORS))
        return ApiResponse(200, job_status(job, self._jobs.results(job_id)))

    def _list(self, request: ApiRequest, scope: CallerScope) -> ApiResponse:
        tenant_id = v.parse_guid(request.route_params.get("tenantId", ""), field="tenantId")
        tenant = self._directory.authorize(tenant_id, INDICATORS, scope=scope)
        mine, others = self._service.inventory(tenant)
        listed = [{name: e.raw.get(name) for name in _LISTED_FIELDS} for e in mine]
        return ApiResponse(200, {"tenantId": tenant_id, "count": len(mine), "otherIndicators": others,
                                 "indicators": listed})  # fmt: skip

    def _write_audit(self, route: Route, request_id: str, note: _Note, response: ApiResponse) -> ApiResponse:
        body = response.body if isinstance(response.body, dict) and response.status >= 300 else {}
        outcome = outcome_for(response.status, replayed="Idempotent-Replayed" in response.headers)
        caller = note.caller
        record = AuditRecord(
            tenant_id=FANOUT_PARTITION, time=self._clock(), request_id=request_id,
            caller=caller.name if caller else "unauthenticated", action=route.operation, outcome=outcome,
            status=response.status, upstream_action_id=str((response.body or {}).get("jobId", "")),
            problem_type=str(body.get("type", "")), detail=note.detail or str(body.get("detail", ""))[:1000],
            idempotency_key=note.key, caller_app_id=caller.app_id if caller else "",
            caller_object_id=caller.object_id if caller else "",
            auth=(caller.auth + note.auth_suffix) if caller else "unauthenticated",
        )  # fmt: skip
        return audited(self._audit, record, response, request_id)


@dataclass
class _Note:
    """What one request has revealed so far; becomes its audit record."""

    key: str = ""
    detail: str = ""
    caller: Caller | None = None
    auth_suffix: str = ""  # +hmac / +hmac(previous) once the signature is checked
    refused: bool = False  # a role or scope refusal: audited on the read routes too


def _text(value: Any) -> str | None:
    return None if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def _indicators(body: Mapping[str, Any], now: datetime) -> list[Any]:
    items = body.get("indicators")
    if not isinstance(items, list) or not items or len(items) > MAX_VALUES:
        raise ValidationError(f"indicators must be a list of 1 to {MAX_VALUES:,} indicators", field="indicators")
    return parse_indicators(((f"indicators[{n}]", item) for n, item in enumerate(items)), now=now)


def _targets(body: Mapping[str, Any]) -> list[list[tuple[str, str]]]:
    items = body.get("values")
    if not isinstance(items, list) or not items or len(items) > MAX_VALUES:
        raise ValidationError(f"values must be a list of 1 to {MAX_VALUES:,} objects", field="values")
    targets = []
    for n, item in enumerate(items):
        where = f"values[{n}]"
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("indicatorValue"), str)
            or set(item) - {"indicatorValue", "indicatorType"}
        ):
            raise ValidationError(f"{where}: must be {{indicatorValue, indicatorType?}}", field="values")
        targets.append(removal_keys(item["indicatorValue"], item.get("indicatorType"), where=where))
    return targets


def _problem(exc: Exception, now: datetime) -> Problem:
    if isinstance(exc, IndicatorSetError):
        rows = [{"where": p.where, "field": p.field, "detail": p.message} for p in exc.problems[:50]]
        return Problem(422, "invalid-value", exc.message, {"field": exc.field, "errors": rows})
    if isinstance(exc, JobNotFoundError):
        return Problem(404, "job-not-found", exc.message, {"jobId": exc.job_id})
    return problem_from_error(exc, now=now)
