"""Input validation for the HTTP API: every rule that turns caller input into typed values.

Each failure is a ``ValidationError`` naming the field and carrying the HTTP status: 400 when the request
cannot be read at all (not UTF-8, not JSON, duplicate keys), 413 (body over 64 KB), 415 (not JSON), 422
when it is well-formed but a value is wrong (GUIDs, 40-hex ids, SHA1s, comment length, enums, unknown
fields). Values echoed back in messages are cut short and ``repr``-quoted, so a message never carries a
caller's megabyte or a control character into a log.
"""

from __future__ import annotations

import ipaddress
import json
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from shared.actions.service import ActionInput
from shared.domain.catalogue import ActionSpec
from shared.domain.errors import ValidationError, clip
from shared.domain.machines import MachineRef

MAX_BODY_BYTES: Final = 64 * 1024


MAX_COMMENT_CHARS: Final = 1000


_HEX40: Final = re.compile(r"[0-9a-fA-F]{40}")


# RFC 1123 host names; underscores too, because Windows computer names may carry them. No quotes, no
# spaces, no OData operators can get through, and names are compared exactly afterwards anyway.
_LABEL: Final = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"


_DNS_NAME: Final = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")


_CONTROL: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


_JSON_TYPES: Final = ("application/json",)


def parse_guid(value: str, *, field: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[0-9a-fA-F-]{32,36}|\{[0-9a-fA-F-]{36}\}", value):
        raise ValidationError(f"{field} must be a GUID (got {clip(value)})", field=field)
    try:
        return str(uuid.UUID(value))
    except ValueError as exc:
        raise ValidationError(f"{field} must be a GUID (got {clip(value)})", field=field) from exc


def parse_machine_ref(value: str) -> MachineRef:
    """A 40-hex id wins over the (unlikely) host name made of 40 hex digits."""
    if _HEX40.fullmatch(value):
        return MachineRef("id", value.lower())
    address = _ip_address(value, field="machine")
    if address is not None:
        return MachineRef("ip", address)
    if len(value) <= 253 and _DNS_NAME.fullmatch(value):
        return MachineRef("name", value.rstrip("."))
    raise ValidationError(
        f"machine must be a 40-hex machine id, a DNS name or an IP address (got {clip(value)})", field="machine"
    )


def parse_lookup(params: Mapping[str, str]) -> MachineRef:
    """``?name=`` (exact DNS name) or ``?ip=`` (exact address): exactly one of them."""
    name, ip = params.get("name"), params.get("ip")
    if (name is None) == (ip is None):
        raise ValidationError("give exactly one of the query parameters name or ip", field="name")
    if ip is not None:
        address = _ip_address(ip.strip(), field="ip")
        if address is None:
            raise ValidationError(f"ip must be an IPv4 or IPv6 address (got {clip(ip)})", field="ip")
        return MachineRef("ip", address)
    assert name is not None
    if len(name) > 253 or not _DNS_NAME.fullmatch(name):
        raise ValidationError(f"name must be a DNS name (got {clip(name)})", field="name")
    return MachineRef("name", name.rstrip("."))


def _ip_address(value: str, *, field: str) -> str | None:
    """The canonical form of an IP address, None if ``value`` is not one.

    Python accepts an IPv6 zone (``fe80::1%eth0``, RFC 4007) and keeps whatever follows the ``%``, quotes
    included. A zone names an interface of the host that wrote it and is never part of a machine's
    address in Defender, so it is refused here rather than sent upstream.
    """
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
        raise ValidationError(
            f"{field} must be an IPv4 or IPv6 address without a zone (got {clip(value)}; drop the %zone part)",
            field=field,
        )
    return str(address)


def parse_sha1(value: object) -> str:
    if not isinstance(value, str) or not _HEX40.fullmatch(value):
        raise ValidationError(f"sha1 must be 40 hexadecimal characters (got {clip(value)})", field="sha1")
    return value.lower()


def parse_comment(value: object) -> str:
    if value is None:
        raise ValidationError("comment is required (1 to 1,000 characters)", field="comment")
    if not isinstance(value, str):
        raise ValidationError(f"comment must be a string (got {type(value).__name__})", field="comment")
    text = value.strip()
    if not 1 <= len(text) <= MAX_COMMENT_CHARS:
        raise ValidationError(f"comment must be 1 to 1,000 characters (got {len(text)})", field="comment")
    if _CONTROL.search(text):
        raise ValidationError("comment must not contain control characters", field="comment")
    return text


def check_fields(body: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(k for k in body if k not in allowed)
    if unknown:
        names = ", ".join(clip(k, 40) for k in unknown[:5])
        raise ValidationError(
            f"unknown field(s) {names}; this route accepts {', '.join(allowed) or 'no fields'}", field=unknown[0][:64]
        )


def parse_action_body(spec: ActionSpec, body: Mapping[str, Any]) -> ActionInput:
    check_fields(body, spec.fields)
    options: dict[str, str] = {}
    for choice in spec.choices:
        value = body.get(choice.name, choice.default)
        if value not in choice.choices:
            raise ValidationError(
                f"{choice.name} must be one of {', '.join(choice.choices)} (got {clip(value)})", field=choice.name
            )
        options[choice.defender_name] = value
    if spec.needs_sha1:
        if "sha1" not in body:
            raise ValidationError("sha1 is required (40 hexadecimal characters)", field="sha1")
        options["Sha1"] = parse_sha1(body["sha1"])
    return ActionInput(comment=parse_comment(body.get("comment")), options=options)


def parse_json_body(
    body: bytes, content_type: str | None, *, required: bool, limit: int = MAX_BODY_BYTES
) -> dict[str, Any]:
    """The request body as a JSON object; an empty body is ``{}`` when the route allows it."""
    if len(body) > limit:
        raise ValidationError(f"request body is {len(body)} bytes; the limit is {limit:,}", field="body", status=413)
    if not body.strip():
        if required:
            raise ValidationError("request body is required (a JSON object)", field="body", status=400)
        return {}
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type not in _JSON_TYPES:
        raise ValidationError(
            f"Content-Type must be application/json (got {clip(media_type or 'none')})",
            field="Content-Type",
            status=415,
        )
    try:
        value = json.loads(body.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except UnicodeDecodeError as exc:
        raise ValidationError("request body is not UTF-8", field="body", status=400) from exc
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f"request body is not valid JSON: {exc.msg} at position {exc.pos}", field="body", status=400
        ) from exc
    except (ValueError, RecursionError) as exc:  # duplicate keys, NaN, absurd nesting or digits
        raise ValidationError(
            f"request body is not acceptable JSON: {str(exc)[:120]}", field="body", status=400
        ) from exc
    if not isinstance(value, dict):
        raise ValidationError(
            f"request body must be a JSON object (got {type(value).__name__})", field="body", status=400
        )
    return value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Two values for one key is how request smuggling between parsers starts: refuse, don't pick one.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {clip(key, 40)}")
        result[key] = value
    return result


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def check_query(params: Mapping[str, str], allowed: tuple[str, ...]) -> None:
    # ``code`` carries the function key when a caller cannot send the x-functions-key header.
    unknown = sorted(k for k in params if k not in (*allowed, "code"))
    if unknown:
        raise ValidationError(
            f"unknown query parameter {clip(unknown[0], 40)}; this route accepts {', '.join(allowed) or 'none'}",
            field=unknown[0][:64],
        )


def parse_bool(value: str | None, *, field: str) -> bool:
    if value is None:
        return False
    lowered = value.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0", ""):
        return False
    raise ValidationError(f"{field} must be true or false (got {clip(value)})", field=field)


def parse_int(value: str | None, *, field: str, low: int, high: int, default: int) -> int:
    if value is None:
        return default
    if not re.fullmatch(r"\d{1,6}", value.strip()) or not low <= int(value) <= high:
        raise ValidationError(f"{field} must be a whole number from {low} to {high} (got {clip(value)})", field=field)
    return int(value)


def parse_time(value: str, *, field: str) -> datetime:
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValidationError(f"{field} must be an ISO 8601 time (got {clip(value)})", field=field) from exc
    if parsed.tzinfo is None:
        raise ValidationError(f"{field} needs a time zone, e.g. 2026-01-01T00:00:00Z (got {clip(value)})", field=field)
    return parsed.astimezone(UTC)
