"""Reading an API answer: the JSON body, ``Retry-After``, and error bodies as the typed errors of
shared.domain.errors.

Defender's error body is ``{"error": {"code", "message", "target"}}`` (docs/microsoft-apis.md §Error body);
Graph's is ``{"error": {"code", "message", "innerError": {"request-id", "date", ...}}}`` (§Graph errors and
throttling), whose ``request-id`` is what Microsoft support asks for, so it is kept in the message.
"""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from typing import Any

import requests

from shared.domain.catalogue import ApiResource
from shared.domain.errors import (
    ActionConflictError,
    DefenderError,
    DefenderForbiddenError,
    DefenderNotFoundError,
)
from shared.domain.tenant import Tenant

Json = dict[str, Any]


def retry_after(value: str | None, now: float) -> float | None:
    """Retry-After in seconds or as an HTTP date (RFC 9110 §10.2.3); None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError):
        return None


def api_label(resource: ApiResource) -> str:
    return "Microsoft Graph" if resource == "graph" else "Defender"


def json_body(response: requests.Response) -> Json:
    if not response.content:
        return {}
    try:
        data = response.json()
    except ValueError:
        raise DefenderError(f"Defender answered {response.status_code} with a body that is not JSON") from None
    return data if isinstance(data, dict) else {"value": data}


def error_from(
    tenant: Tenant, resource: ApiResource, method: str, path: str, response: requests.Response
) -> DefenderError:
    """Defender's error body is {"error": {"code", "message", "target"}} (docs/microsoft-apis.md §Error body);
    Graph's adds ``innerError`` with the ``request-id`` Microsoft support asks for (§Graph errors and throttling)."""
    code, message, request_id = "", "", ""
    try:
        err = response.json().get("error") or {}
        code, message = str(err.get("code") or ""), str(err.get("message") or "")[:500]
        inner = err.get("innerError") or err.get("innererror") or {}
        request_id = str(inner.get("request-id") or "")[:64] if isinstance(inner, dict) else ""
    except (ValueError, AttributeError):
        message = response.text[:200]
    status = response.status_code
    text = f"tenant {tenant.tenant_id}: {api_label(resource)} {method} {path} answered {status} {code}: {message}"
    text = text.rstrip(": ") + (f" (request-id {request_id})" if request_id else "")
    kwargs: dict[str, Any] = {"status": status, "code": code or None, "tenant_id": tenant.tenant_id}
    if status == 404:
        return DefenderNotFoundError(text, **kwargs)
    if status == 403:
        return DefenderForbiddenError(text, **kwargs)
    if status == 400 and code == "ActiveRequestAlreadyExists":
        return ActionConflictError(text, **kwargs)
    return DefenderError(text, **kwargs)
