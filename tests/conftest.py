"""Shared fixtures. Integration fixtures start real servers on free loopback ports and always stop them.

- ``azurite``: one Azurite per test session (per xdist worker), yields its endpoints (connection string).
- Tests that need clean storage make their own queue/table names (``unique_name``) instead of
  restarting Azurite.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from localdev.azurite import AzuriteEndpoints, running_azurite


@pytest.fixture(scope="session")
def azurite() -> Iterator[AzuriteEndpoints]:
    with running_azurite() as endpoints:
        yield endpoints


@pytest.fixture
def unique_name() -> str:
    """A storage-safe unique name (lowercase letters and digits, starts with a letter)."""
    return "t" + uuid.uuid4().hex[:20]
