"""Small value checks shared by settings and the tenant registry. Each names what it checks."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from shared.domain.tenant import is_guid
from shared.platform.redaction import redact

_SECRET_NAME = re.compile(r"^[0-9A-Za-z-]{1,127}$")  # Key Vault object names
_QUEUE_NAME = re.compile(r"^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$")
_CONTAINER_NAME = _QUEUE_NAME  # same rules: 3-63 lowercase letters, digits, single dashes
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
# One NCRONTAB field: *, numbers, ranges, steps, lists; day-of-week/month names are allowed too.
_CRON_FIELD = re.compile(
    r"^(\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/[0-9]+)?(,(\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/[0-9]+)?)*$"
)
_CRON_RANGES = ((0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (0, 6))


class Problems:
    """Collects one line per bad setting, so all of them are reported at once."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, name: str, message: str) -> None:
        self.lines.append(f"{name}: {message}")

    def __bool__(self) -> bool:
        return bool(self.lines)


def check_guid(name: str, value: str, problems: Problems) -> str | None:
    if is_guid(value):
        return value.lower()
    problems.add(name, f"'{value}' is not a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)")
    return None


def check_int(name: str, value: str, low: int, high: int, problems: Problems) -> int | None:
    try:
        number = int(value)
    except ValueError:
        problems.add(name, f"'{value}' is not a whole number")
        return None
    if not low <= number <= high:
        problems.add(name, f"{number} is outside {low}..{high}")
        return None
    return number


def check_url(name: str, value: str, problems: Problems) -> bool:
    """https only; plain http is accepted for loopback hosts (local receivers in development).

    The value is echoed without its query values and userinfo: a webhook URL may carry its key there.
    """
    try:
        parts = urlsplit(value)
        hostname = parts.hostname
    except ValueError:  # e.g. an unclosed IPv6 bracket
        parts, hostname = None, None
    if parts is not None and parts.scheme == "https" and hostname:
        return True
    if parts is not None and parts.scheme == "http" and hostname in _LOOPBACK:
        return True
    problems.add(name, f"'{redact(value)}' must be an https:// URL")
    return False


def check_secret_name(name: str, value: str, problems: Problems) -> bool:
    if _SECRET_NAME.match(value):
        return True
    problems.add(name, f"'{value}' is not a Key Vault secret name (1-127 letters, digits, dashes)")
    return False


def check_queue_name(name: str, value: str, problems: Problems) -> bool:
    if _QUEUE_NAME.match(value):
        return True
    problems.add(name, f"'{value}' is not a valid queue name (3-63 lowercase letters, digits, single dashes)")
    return False


def check_container_name(name: str, value: str, problems: Problems) -> bool:
    if _CONTAINER_NAME.match(value):
        return True
    problems.add(name, f"'{value}' is not a valid blob container name (3-63 lowercase letters, digits, dashes)")
    return False


def parse_ncrontab(name: str, value: str, problems: Problems) -> list[str] | None:
    """NCRONTAB as Azure Functions takes it: 6 fields {second} {minute} {hour} {day} {month} {day-of-week}."""
    fields = value.split()
    if len(fields) != 6:
        problems.add(
            name, f"'{value}' must have 6 fields (second minute hour day month day-of-week), not {len(fields)}"
        )
        return None
    for index, part in enumerate(fields):
        if not _CRON_FIELD.match(part) or not _numbers_in_range(part, *_CRON_RANGES[index]):
            problems.add(name, f"'{value}': field {index + 1} ('{part}') is not a valid NCRONTAB field")
            return None
    return fields


def _numbers_in_range(part: str, low: int, high: int) -> bool:
    for token in re.split(r"[,\-]", re.sub(r"/[0-9]+", "", part)):
        if token.isdigit() and not low <= int(token) <= high + 1:  # day-of-week 7 = Sunday is accepted too
            return False
    return True


def derive_interval_seconds(fields: list[str], default: int = 300) -> int:
    """The period of simple schedules (``0 */5 * * * *`` -> 300); ``default`` for anything fancier."""
    second, minute, hour = fields[0], fields[1], fields[2]
    rest_all = all(f == "*" for f in fields[3:])
    if not rest_all:
        return default
    step = _step(second)
    if step and minute == "*" and hour == "*":
        return step
    if second.isdigit() and (step := _step(minute)) and hour == "*":
        return step * 60
    if second.isdigit() and minute.isdigit() and (step := _step(hour)):
        return step * 3600
    return default


def _step(part: str) -> int | None:
    if part == "*":
        return 1
    match = re.fullmatch(r"(?:\*|0)/([0-9]+)", part)
    return int(match.group(1)) if match and int(match.group(1)) > 0 else None
