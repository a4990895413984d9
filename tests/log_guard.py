"""A guard over every log record of a test run: no token and no secret may ever appear in one.

The conftest installs ``LogGuard`` for the whole session: our loggers (``defender_relay.*``) down to
DEBUG and every other logger at INFO (what the Functions host emits in Azure), with exception text.
Secrets are every credential the emulators of the run handed out (client secrets, Key Vault values) and
``WEBHOOK_URL_KEY``, the key that every webhook URL of the suite carries in its query string (as an Azure
Function's ``?code=`` or a SAS ``sig=`` does); tokens are recognised by shape (a JWT: three base64url
parts, the first two JSON objects).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

WEBHOOK_URL_KEY = "webhook-url-key-4c1f9e2a7b"  # put it in the query (or the userinfo) of every test webhook URL
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
_MIN_SECRET_CHARS = 12  # shorter values would match by accident (and no real credential is that short)


def secrets_of(emulator_data: Mapping[str, Any]) -> set[str]:
    """Every secret value an emulator's ``emulator.json`` names: app secrets and Key Vault secret values."""
    found: set[str] = set()
    for app in (emulator_data.get("apps") or {}).values():
        found.update(str(app[k]) for k in ("client_secret", "expired_client_secret") if app.get(k))
    for value in ((emulator_data.get("key_vault") or {}).get("secrets") or {}).values():
        text = str(value)
        if "-----BEGIN" in text:  # a PEM: its key body lines are what must never leak
            found.update(line for line in text.splitlines() if len(line) >= 40 and "-----" not in line)
        else:
            found.add(text)
    return {s for s in found if len(s) >= _MIN_SECRET_CHARS}


def find_leaks(messages: Iterable[tuple[str, str]], secrets: Iterable[str]) -> Iterator[str]:
    """For each (logger, text) that holds a JWT or a secret, a description that does not repeat it."""
    secret_list = sorted(set(secrets), key=len, reverse=True)
    for logger_name, text in messages:
        if JWT.search(text):
            yield f"{logger_name}: a JWT in {_redacted(text, [m.group(0) for m in JWT.finditer(text)])!r}"
        for secret in secret_list:
            if secret in text:
                yield f"{logger_name}: a secret in {_redacted(text, [secret])!r}"
                break


def _redacted(text: str, values: list[str]) -> str:
    for value in values:
        text = text.replace(value, "<REDACTED>")
    return text[:300]


class LogGuard(logging.Handler):
    """Collects the formatted text of every record it sees (message, arguments, exception, stack)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.messages: list[tuple[str, str]] = []
        self.secrets: set[str] = set()
        self._formatter = logging.Formatter("%(message)s")

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self._formatter.format(record)
        except Exception:  # a record that cannot be formatted is still checked by its raw parts
            text = f"{record.msg!r} {record.args!r}"
        self.messages.append((record.name, text))

    def leaks(self) -> list[str]:
        return list(find_leaks(self.messages, self.secrets))
