"""What a failed run tells the SOC: a kind, Microsoft's or Entra's message, and what to do about it.

Kinds (docs/hunting.md "Per-tenant status"): ``missing-roles`` (no ``ThreatHunting.Read.All`` in the token, or
Graph says the role is missing), ``not-consented``, ``no-hunting`` (Graph refused the call with 403 although
the role is there: the tenant's licence has no advanced hunting), ``hunt-timeout`` / ``result-too-large`` /
``excessive-resources`` (a documented limit, https://learn.microsoft.com/defender-xdr/advanced-hunting-errors),
``query-error`` (the query failed in this tenant only, e.g. a table its licence lacks), ``unavailable``
(Graph or Entra ID kept failing), and the other auth kinds of ``shared.domain.errors``.
"""

from __future__ import annotations

from typing import Final

from shared.domain.catalogue import HUNTING_ROLE
from shared.domain.errors import (
    AuthError,
    DefenderError,
    DefenderForbiddenError,
    HuntLimitError,
    HuntQueryError,
    RelayError,
)

ROW_CAP: Final = 100_000  # "Results can return up to 100,000 rows." (docs/microsoft-apis.md §Advanced hunting)
_LIMIT_KINDS: Final = {"timeout": "hunt-timeout", "result-size": "result-too-large", "resources": "excessive-resources"}
_NARROW: Final = "narrow the query for this tenant: a shorter timespan, fewer columns (project), summarize, or take"
ROLE_REMEDY: Final = (
    f"grant the Microsoft Graph application permission {HUNTING_ROLE} to the partner app and have the "
    "customer's admin consent again (docs/onboarding.md)"
)
LICENCE_REMEDY: Final = (
    "the tenant has no advanced hunting: it needs Microsoft Defender XDR (e.g. Defender for Endpoint Plan 2 "
    "or Microsoft 365 E5) licences; nothing to retry until then"
)


def failure_of(exc: RelayError) -> tuple[str, str, str]:  # noqa: PLR0911  # one flat mapping reads best
    """(kind, message, remedy) of a run that ended in ``exc``."""
    if isinstance(exc, HuntLimitError):
        return _LIMIT_KINDS.get(exc.limit, "hunt-limit"), exc.message, _NARROW
    if isinstance(exc, HuntQueryError):
        return "query-error", exc.message, "the query failed in this tenant only: does its licence include the tables?"
    if isinstance(exc, DefenderForbiddenError):
        if "missing application roles" in exc.message.lower():
            return "missing-roles", exc.message, ROLE_REMEDY
        return "no-hunting", exc.message, LICENCE_REMEDY
    if isinstance(exc, AuthError):
        remedy = exc.remedy or (ROLE_REMEDY if exc.kind == "missing-roles" else "")
        return exc.kind, exc.message, remedy
    if isinstance(exc, DefenderError):
        return exc.kind, exc.message, "transient: run the hunt again" if exc.kind == "unavailable" else ""
    return exc.kind, exc.message, ""


def limit_note(rows: int, cap: int = ROW_CAP) -> str:
    """Why a tenant's rows may be incomplete, or "" when nothing was cut."""
    if rows < cap:
        return ""
    return f"{rows:,} rows: the {cap:,}-row limit of advanced hunting was reached, so rows may be missing; " + _NARROW
