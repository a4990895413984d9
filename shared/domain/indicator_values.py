"""Indicator values checked per documented type and written the one way they are compared.

Hashes and certificate thumbprints are hex of their length (a thumbprint is the certificate's SHA-1, how
Windows shows it), lower-cased; an IP is one external address, no CIDR or range, IPv6 in all 8 segments
(https://learn.microsoft.com/defender-endpoint/api/post-ti-indicator,
https://learn.microsoft.com/defender-endpoint/indicator-ip-domain,
https://learn.microsoft.com/defender-endpoint/indicators-overview); a domain is a name without scheme,
path or wildcard (it covers its subdomains), lower-cased; a URL starts with http:// or https:// and names a host.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any, Final, Literal, get_args
from urllib.parse import urlsplit

from shared.domain.errors import ValidationError

IndicatorType = Literal["FileSha1", "FileSha256", "FileMd5", "CertificateThumbprint", "IpAddress", "DomainName", "Url"]
INDICATOR_TYPES: Final[tuple[IndicatorType, ...]] = get_args(IndicatorType)
HEX_LENGTHS: Final[Mapping[str, int]] = {"FileSha1": 40, "FileSha256": 64, "FileMd5": 32, "CertificateThumbprint": 40}
MAX_URL: Final = 2048  # the relay's own bound (the docs give none)
_LABEL: Final = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_DOMAIN: Final = re.compile(rf"(?:{_LABEL}\.)+(?:[a-z]{{2,63}}|xn--[a-z0-9-]{{1,59}})")
_HEX: Final = re.compile(r"[0-9a-fA-F]+")
CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")

Key = tuple[str, str]  # (indicatorType, normalised indicatorValue): what identifies one indicator


class InvalidValue(Exception):
    """One field of one row is wrong: ``field`` and ``message`` (becomes a ``RowProblem``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _invalid(message: str) -> InvalidValue:
    return InvalidValue("indicatorValue", message)


def normalise_value(kind: IndicatorType, value: Any) -> str:
    """The value checked for its type and written the one way Defender is compared with."""
    if not isinstance(value, str) or not value.strip():
        raise _invalid("is required")
    text = value.strip()
    if kind in HEX_LENGTHS:
        length = HEX_LENGTHS[kind]
        if len(text) != length or not _HEX.fullmatch(text):
            raise _invalid(f"a {kind} is {length} hexadecimal characters (got {clip(text)})")
        return text.lower()
    if kind == "IpAddress":
        return _ip(text)
    if kind == "DomainName":
        return _domain(text)
    return _url(text)


def _ip(text: str) -> str:
    if "%" in text:  # an IPv6 zone names an interface of the writer's host, never part of an indicator
        raise _invalid(f"one IP address without a %zone (got {clip(text)})")
    if "/" in text or "-" in text:
        raise InvalidValue(
            "indicatorValue", f"one IP address; CIDR notation and ranges are not supported (got {clip(text)})"
        )
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise _invalid(f"not an IPv4 or IPv6 address (got {clip(text)})") from None
    if not address.is_global:
        raise _invalid(f"only external IP addresses can be indicators (got {clip(text)})")
    if isinstance(address, ipaddress.IPv6Address):
        return ":".join(f"{int(part, 16):x}" for part in address.exploded.split(":"))  # all 8 segments
    return str(address)


def _domain(text: str) -> str:
    name = text.lower().rstrip(".")
    if "://" in name or "/" in name:
        raise InvalidValue(
            "indicatorValue", f"a domain name without scheme or path; use Url for those (got {clip(text)})"
        )
    if "*" in name:
        raise InvalidValue(
            "indicatorValue", f"wildcards are not supported; a domain covers its subdomains (got {clip(text)})"
        )
    if len(name) > 253 or not _DOMAIN.fullmatch(name):
        raise _invalid(f"not a domain name like example.com (got {clip(text)})")
    return name


def _url(text: str) -> str:
    if len(text) > MAX_URL or CONTROL.search(text) or " " in text:
        raise _invalid(f"a URL of at most {MAX_URL} characters without spaces (got {clip(text)})")
    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
    except ValueError:
        raise _invalid(f"not a URL (got {clip(text)})") from None
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise InvalidValue(
            "indicatorValue", f"a URL starts with http:// or https:// and names a host (got {clip(text)})"
        )
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not _DOMAIN.fullmatch(host.rstrip(".")):
            raise InvalidValue(
                "indicatorValue", f"the URL's host is not a domain name or IP (got {clip(text)})"
            ) from None
    return text


def clip(value: object, limit: int = 64) -> str:
    text = value if isinstance(value, str) else repr(value)
    return repr(text[:limit] + ("…" if len(text) > limit else ""))


def removal_keys(value: str, kind: str | None = None, *, where: str = "value") -> list[Key]:
    """The indicators a value to remove can be: of ``kind`` when given, else every type it is valid for (40 hex
    digits are a SHA-1 or a certificate thumbprint). ``ValidationError`` names ``where`` when it is none."""
    kinds: tuple[IndicatorType, ...] = INDICATOR_TYPES
    if kind is not None:
        if kind not in INDICATOR_TYPES:
            raise ValidationError(f"{where}: indicatorType must be one of {', '.join(INDICATOR_TYPES)}", field="type")
        kinds = (kind,)
    keys: list[Key] = []
    reasons: list[str] = []
    for candidate in kinds:
        try:
            keys.append((candidate, normalise_value(candidate, value)))
        except InvalidValue as bad:
            reasons.append(bad.message)
    if not keys:
        anything = f"{clip(value)} is not a hash, thumbprint, external IP, domain or URL"
        detail = reasons[0] if kind is not None else anything
        raise ValidationError(f"{where}: {detail}", field="indicatorValue")
    return keys


def key_text(key: Key) -> str:
    """``FileSha256:abc…`` for messages, audit records and the status route."""
    return f"{key[0]}:{key[1]}"
