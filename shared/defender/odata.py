"""OData literals for Defender ``$filter`` expressions: quoted strings and unquoted UTC date-times."""

from __future__ import annotations

from datetime import UTC, datetime


def odata_quote(value: str) -> str:
    """An OData string literal: single quotes doubled, the whole wrapped in quotes (OData URL conventions)."""
    return "'" + str(value).replace("'", "''") + "'"


def odata_datetime(value: datetime) -> str:
    """Date-times are unquoted in Defender filters (docs/microsoft-apis.md §OData subset), UTC with a Z."""
    if value.tzinfo is None:
        raise ValueError("naive datetime in an OData filter: pass an aware UTC datetime")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
