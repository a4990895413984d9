"""The triage routes of the HTTP API: update and comment on alerts and incidents, the alert batch, machine tags.

Served by ``HttpApi`` with the same guarantees as the response actions, in the same order: body and route
parameters checked first (an unknown field is refused by name; every enum against the page of the write it
goes to, ``shared.triage.fields``), then the tenant and its allow-list (``triage``, which only a tenant's own
list can name), then ``Idempotency-Key``, then the one service call. Nothing is sent upstream before all of
that passed, so bad input never half-writes. The audit record (``HttpApi._write_audit``) carries the
``TriageNote`` the service filled: what was targeted and each property's value before and after.

The batch needs an ``Idempotency-Key``: it may add a comment to each alert, and a retry of the same batch
without one would comment twice (draft-ietf-httpapi-idempotency-key-header, "Error Scenarios": 400 when a
required key is missing). A batch answers 200 when every alert succeeded, else 207 with each alert's result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from shared.actions.idempotency import fingerprint
from shared.domain.catalogue import TRIAGE, ItemKind
from shared.domain.errors import ValidationError
from shared.domain.tenant import Tenant
from shared.http import inputs as v
from shared.http.api import ApiRequest, ApiResponse
from shared.http.problems import IDEMPOTENCY_KEY_FIELD, problem_from_error
from shared.http.routes import Route
from shared.triage import fields
from shared.triage.bulk import BatchRequest, ItemResult, counts, update_alerts
from shared.triage.service import TriageNote, TriageService

BATCH_FIELDS = ("alertIds", *fields.ALERT_FIELDS, "comment")


class Call(Protocol):
    """What a triage handler reads and fills of ``HttpApi``'s per-request record."""

    tenant_id: str
    machine: str
    comment: str
    triage: TriageNote


Handler = Callable[[Route, ApiRequest, Any], ApiResponse]


def _kind(route: Route) -> ItemKind:
    return "incident" if route.operation.startswith("incident") else "alert"


def _item_id(route: Route, request: ApiRequest) -> str:
    if _kind(route) == "incident":
        return fields.parse_incident_id(request.route_params.get("incidentId", ""))
    return fields.parse_alert_id(request.route_params.get("alertId", ""))


def _body(request: ApiRequest, allowed: tuple[str, ...]) -> dict[str, Any]:
    body = v.parse_json_body(request.body, request.headers.get("content-type"), required=True)
    v.check_fields(body, allowed)
    return body


class TriageHandlers:
    def __init__(
        self,
        *,
        service: TriageService,
        authorize: Callable[[str, str], Tenant],
        key: Callable[[ApiRequest, Any], str | None],
        idempotent: Callable[[Any, str | None, str, Callable[[], ApiResponse]], ApiResponse],
    ) -> None:
        self._service = service
        self._authorize = authorize
        self._key = key
        self._idempotent = idempotent

    @property
    def handlers(self) -> dict[str, Handler]:
        return {
            "alert-update": self._update,
            "incident-update": self._update,
            "alert-comment": self._comment,
            "incident-comment": self._comment,
            "alert-batch-update": self._batch,
            "machine-tag": self._tag,
        }

    def _update(self, route: Route, request: ApiRequest, call: Call) -> ApiResponse:
        kind = _kind(route)
        item_id = _item_id(route, request)
        call.triage.target = f"{kind} {item_id}"
        body = _body(request, fields.INCIDENT_FIELDS if kind == "incident" else fields.ALERT_FIELDS)
        changes = fields.incident_changes(body) if kind == "incident" else fields.alert_changes(body)
        key = self._key(request, call)
        tenant = self._authorize(call.tenant_id, TRIAGE)

        def run() -> ApiResponse:
            result = self._service.update(tenant, kind, item_id, changes, note=call.triage)
            return ApiResponse(200, {kind: result.item, "changed": bool(result.changes), "changes": result.changes})

        return self._idempotent(call, key, fingerprint(route.function_name, call.tenant_id, item_id, changes), run)

    def _comment(self, route: Route, request: ApiRequest, call: Call) -> ApiResponse:
        kind = _kind(route)
        item_id = _item_id(route, request)
        call.triage.target = f"{kind} {item_id}"
        body = _body(request, ("comment",))
        call.comment = str(body.get("comment", ""))[:1000]
        comment = v.parse_comment(body.get("comment"))
        key = self._key(request, call)
        tenant = self._authorize(call.tenant_id, TRIAGE)

        def run() -> ApiResponse:
            comments = self._service.comment(tenant, kind, item_id, comment, note=call.triage)
            return ApiResponse(200, {f"{kind}Id": item_id, "comments": comments})

        return self._idempotent(call, key, fingerprint(route.function_name, call.tenant_id, item_id, comment), run)

    def _batch(self, route: Route, request: ApiRequest, call: Call) -> ApiResponse:
        body = _body(request, BATCH_FIELDS)
        call.comment = str(body.get("comment", ""))[:1000]
        batch = _batch_request(body)
        call.triage.target = f"{len(batch.alert_ids)} alert(s)"
        key = self._key(request, call)
        if key is None:
            raise ValidationError(
                "this route needs an Idempotency-Key header (1 to 255 visible ASCII characters), so a retried batch "
                "does not write twice",
                field=IDEMPOTENCY_KEY_FIELD,
                status=400,
            )
        tenant = self._authorize(call.tenant_id, TRIAGE)

        def run() -> ApiResponse:
            results = update_alerts(self._service, tenant, batch, note=call.triage)
            tally = counts(results)
            status = 200 if tally["failed"] == tally["skipped"] == 0 else 207
            return ApiResponse(status, {"results": [_item_json(r) for r in results], "summary": tally})

        return self._idempotent(call, key, fingerprint(route.function_name, call.tenant_id, batch), run)

    def _tag(self, route: Route, request: ApiRequest, call: Call) -> ApiResponse:
        call.machine = request.route_params.get("machine", "")[:253]
        body = _body(request, ("value", "action"))
        tag = fields.parse_tag(body)
        ref = v.parse_machine_ref(request.route_params.get("machine", ""))
        key = self._key(request, call)
        tenant = self._authorize(call.tenant_id, TRIAGE)

        def run() -> ApiResponse:
            result = self._service.tag(tenant, ref, tag, note=call.triage)
            return ApiResponse(
                200, {"machine": result.machine, "changed": bool(result.changes), "changes": result.changes}
            )

        return self._idempotent(call, key, fingerprint(route.function_name, call.tenant_id, ref, tag), run)


def _batch_request(body: Mapping[str, Any]) -> BatchRequest:
    alert_ids = fields.parse_alert_ids(body.get("alertIds"))
    changes = fields.alert_changes(body) if any(name in body for name in fields.ALERT_FIELDS) else None
    comment = v.parse_comment(body["comment"]) if "comment" in body else None
    if changes is None and comment is None:
        raise ValidationError(
            f"nothing to do: give a comment or at least one of {', '.join(fields.ALERT_FIELDS)}", field="body"
        )
    return BatchRequest(alert_ids, changes, comment)


def _item_json(result: ItemResult) -> dict[str, Any]:
    item: dict[str, Any] = {"id": result.id, "outcome": result.outcome, "status": 200}
    if result.changes:
        item["changes"] = result.changes
    item["commented"] = result.commented
    if result.error is not None:
        problem = problem_from_error(result.error).to_json()
        item["status"] = problem["status"]
        item["problem"] = problem
    return item
