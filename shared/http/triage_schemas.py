"""JSON Schemas of the triage request bodies for the OpenAPI document, from the same value sets the relay checks
(``shared.triage.fields``), so the document and the validation cannot drift."""

from __future__ import annotations

from typing import Any, Final

from shared.http.inputs import MAX_COMMENT_CHARS
from shared.triage import fields as f


def _text(limit: int) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": limit}


def _object(properties: dict[str, Any], required: tuple[str, ...] = (), *, min_properties: int = 0) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": properties}
    if required:
        schema["required"] = list(required)
    if min_properties:
        schema["minProperties"] = min_properties
    return schema


def _changes(enums: tuple[Any, ...]) -> dict[str, Any]:
    properties: dict[str, Any] = {spec.name: {"type": "string", "enum": list(spec.allowed)} for spec in enums}
    properties["assignedTo"] = {"type": ["string", "null"], "maxLength": f.MAX_OWNER_CHARS}
    return properties


_COMMENT: Final = _object({"comment": _text(MAX_COMMENT_CHARS)}, ("comment",))
_INCIDENT: Final = {
    **_changes(f.INCIDENT_ENUMS),
    "customTags": {
        "type": "array",
        "maxItems": f.MAX_CUSTOM_TAGS,
        "uniqueItems": True,
        "items": _text(f.MAX_TAG_CHARS),
    },
}
_BATCH: Final = {
    "alertIds": {"type": "array", "minItems": 1, "maxItems": f.MAX_BATCH, "uniqueItems": True,
                 "items": {"type": "string", "maxLength": 128}},
    **_changes(f.ALERT_ENUMS),
    "comment": _text(MAX_COMMENT_CHARS),
}  # fmt: skip

TRIAGE_SCHEMAS: Final[dict[str, dict[str, Any]]] = {
    "alert-update": _object(_changes(f.ALERT_ENUMS), min_properties=1),
    "incident-update": _object(_INCIDENT, min_properties=1),
    "alert-comment": _COMMENT,
    "incident-comment": _COMMENT,
    "alert-batch-update": _object(_BATCH, ("alertIds",), min_properties=2),
    "machine-tag": _object(
        {"value": _text(f.MAX_TAG_CHARS), "action": {"type": "string", "enum": list(f.TAG_ACTIONS)}},
        ("value", "action"),
    ),
}
