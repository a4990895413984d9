"""The triage writes over the ``DefenderTransport``: Graph alerts and incidents, MDE machine tags.

The adapter behind two ports of ``shared.triage.service`` (``GraphTriage``, ``MachineTagger``; machines are
found and read by ``DefenderClient``, as for the actions):

- ``GET`` / ``PATCH /v1.0/security/alerts_v2/{id}`` and ``POST …/comments`` with
  ``{"@odata.type": "microsoft.graph.security.alertComment", "comment": …}``
  (https://learn.microsoft.com/graph/api/security-alert-update, security-alert-post-comments);
- the same on ``/v1.0/security/incidents/{id}`` (security-incident-update, security-incident-post-comments);
  both answer 200 with the updated entity, a comment 200 with every comment of the item;
- ``POST /api/machines/{id}/tags`` with ``{"Value", "Action": "Add"|"Remove"}``, 200 with the updated machine
  (https://learn.microsoft.com/defender-endpoint/api/add-or-remove-machine-tags).

Every call names the write role, so a token without it fails before anything is sent (``missing-permission``),
and the reads that precede a write ask for the same role: a tenant that can read but not write is told so
before the relay reads anything. A 400 to a write the relay had validated becomes ``UpstreamRejectedError``
(the service's reason is in the message). Writes are not retried after they may have reached the service
(the transport's rule for non-GET calls): a repeated comment would be a second comment.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import quote

from shared.defender.client import Transport
from shared.domain.catalogue import TRIAGE_ALERT_ROLE, TRIAGE_INCIDENT_ROLE, TRIAGE_TAG_ROLE, ItemKind
from shared.domain.errors import DefenderError, UpstreamRejectedError
from shared.domain.tenant import Tenant

ENTITY_SETS: Final[Mapping[ItemKind, str]] = {"alert": "alerts_v2", "incident": "incidents"}
WRITE_ROLES: Final[Mapping[ItemKind, str]] = {"alert": TRIAGE_ALERT_ROLE, "incident": TRIAGE_INCIDENT_ROLE}
COMMENT_TYPE: Final = "microsoft.graph.security.alertComment"


def _path(kind: ItemKind, item_id: str, *rest: str) -> str:
    return "/".join(("/v1.0/security", ENTITY_SETS[kind], quote(item_id, safe=""), *rest))


class TriageClient:
    def __init__(self, *, transport: Transport) -> None:
        self.transport = transport

    def get_item(self, tenant: Tenant, kind: ItemKind, item_id: str) -> dict[str, Any]:
        roles = [WRITE_ROLES[kind]]
        return self.transport.request(tenant, "graph", "GET", _path(kind, item_id), required_roles=roles)

    def update_item(self, tenant: Tenant, kind: ItemKind, item_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return self._write(tenant, "graph", "PATCH", _path(kind, item_id), dict(body), role=WRITE_ROLES[kind])

    def comment_item(self, tenant: Tenant, kind: ItemKind, item_id: str, comment: str) -> list[dict[str, Any]]:
        body = {"@odata.type": COMMENT_TYPE, "comment": comment}
        answer = self._write(tenant, "graph", "POST", _path(kind, item_id, "comments"), body, role=WRITE_ROLES[kind])
        return [dict(c) for c in answer.get("value") or [] if isinstance(c, dict)]

    def tag_machine(self, tenant: Tenant, machine_id: str, value: str, action: str) -> dict[str, Any]:
        path = f"/api/machines/{quote(machine_id, safe='')}/tags"
        return self._write(tenant, "mde", "POST", path, {"Value": value, "Action": action}, role=TRIAGE_TAG_ROLE)

    def _write(self, tenant: Tenant, resource: Any, method: str, path: str, body: Any, *, role: str) -> dict[str, Any]:
        try:
            return self.transport.request(tenant, resource, method, path, json=body, required_roles=[role])
        except DefenderError as exc:
            if exc.status == 400:
                raise UpstreamRejectedError(exc.message, status=400, code=exc.code, tenant_id=exc.tenant_id) from exc
            raise
