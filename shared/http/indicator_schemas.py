"""JSON Schemas of the indicator routes' bodies for the OpenAPI document (``shared.http.openapi``).

The field rules are ``shared.domain.indicator``'s (the documented API fields, checked before any call);
the schemas describe them for a SOAR tool importing the document, the relay checks them itself.
"""

from __future__ import annotations

from typing import Any, Final

from shared.domain.indicator import ACTIONS, MAX_NAME, MAX_TEXT, MAX_TITLE, SEVERITIES
from shared.domain.indicator_values import INDICATOR_TYPES

MAX_INDICATOR_BODY_BYTES: Final = 8 * 1024 * 1024  # 15,000 indicators (a tenant's limit) at about 500 bytes each
MAX_VALUES: Final = 15_000

TENANTS: Final[dict[str, Any]] = {
    "description": '"all" (every enabled tenant whose allow-list names indicators) or a list of tenant ids',
    "oneOf": [
        {"type": "string", "const": "all"},
        {"type": "array", "minItems": 1, "items": {"type": "string", "format": "uuid"}},
    ],
}
INDICATOR: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["indicatorValue", "indicatorType", "action", "title", "description"],
    "additionalProperties": False,
    "properties": {
        "indicatorValue": {"type": "string", "description": "hash (hex), thumbprint, external IP, domain or URL"},
        "indicatorType": {"type": "string", "enum": list(INDICATOR_TYPES)},
        "action": {"type": "string", "enum": list(ACTIONS), "description": "generateAlert must be true for Audit"},
        "title": {"type": "string", "minLength": 1, "maxLength": MAX_TITLE},
        "description": {"type": "string", "minLength": 1, "maxLength": MAX_TEXT},
        "severity": {"type": "string", "enum": list(SEVERITIES), "default": "Informational"},
        "expirationTime": {"type": "string", "format": "date-time", "description": "in the future"},
        "rbacGroupNames": {"type": "array", "items": {"type": "string", "maxLength": MAX_NAME}},
        "generateAlert": {"type": "boolean", "default": False},
        "application": {"type": "string", "maxLength": MAX_NAME},
        "recommendedActions": {"type": "string", "maxLength": MAX_TEXT},
    },
}
_INDICATORS: Final = {"type": "array", "minItems": 1, "maxItems": MAX_VALUES, "items": INDICATOR}


def _body(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "required": required, "additionalProperties": False, "properties": properties}


BODIES: Final[dict[str, dict[str, Any]]] = {
    "indicators-push": _body({"tenants": TENANTS, "indicators": _INDICATORS}, ["tenants", "indicators"]),
    "indicators-sync": _body(
        {"tenants": TENANTS, "indicators": _INDICATORS, "dryRun": {"type": "boolean", "default": False}},
        ["tenants", "indicators"],
    ),
    "indicators-drift": _body({"tenants": TENANTS, "indicators": _INDICATORS}, ["tenants", "indicators"]),
    "indicators-remove": _body(
        {
            "tenants": TENANTS,
            "values": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_VALUES,
                "items": {
                    "type": "object",
                    "required": ["indicatorValue"],
                    "additionalProperties": False,
                    "properties": {
                        "indicatorValue": {"type": "string"},
                        "indicatorType": {"type": "string", "enum": list(INDICATOR_TYPES)},
                    },
                },
            },
        },
        ["tenants", "values"],
    ),
}
# The routes that start a job: 202 with the job id and its status URL.
JOB_OPERATIONS: Final = frozenset(BODIES)
