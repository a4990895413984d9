"""Shared fixtures. Integration fixtures start real servers on free loopback ports and always stop them.

- ``azurite``: one Azurite per test session (per xdist worker), yields its endpoints (connection string).
- Tests that need clean storage make their own queue/table names (``unique_name``; ``table_name`` also
  creates the table and deletes it after) instead of restarting Azurite.
- ``emulator``: one emulator of the Microsoft services (``python -m emulator``, scenario "test") per test
  session (per xdist worker); yields its ``EmulatorInfo``. ``emulator_env`` puts the emulator's client
  environment (CA bundle, managed identity endpoint, host overrides) into ``os.environ`` for one test.
- ``private_emulator``: an emulator of a module's own. A module that moves the emulated clock
  (``/_emulator/time/advance``) must use it (override ``emulator`` with it): advancing ages every tenant's
  data, and versions other modules' workers already delivered would reappear with aged time stamps.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator

import pytest
from azure.data.tables import TableClient
from hypothesis import settings

from localdev.azurite import AzuriteEndpoints, running_azurite
from localdev.emulator_process import EmulatorInfo, running_emulator
from tests.log_guard import WEBHOOK_URL_KEY, LogGuard, secrets_of

# CI runs the property tests with a fixed seed, so a landing never depends on luck; on a developer's
# machine they stay random and keep finding new cases (with the example database to replay them).
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(scope="session", autouse=True)
def log_guard() -> Iterator[LogGuard]:
    """No token and no secret in any log record of the whole run (tests/log_guard.py).

    Our loggers are checked down to DEBUG, every other logger at INFO (what the Functions host emits).
    The emulator fixtures add the credentials they hand out to ``secrets``; the webhook URL key is in it
    from the start.
    """
    guard = LogGuard()
    guard.secrets.add(WEBHOOK_URL_KEY)
    root, ours = logging.getLogger(), logging.getLogger("defender_relay")
    levels = (root.level, ours.level)
    root.addHandler(guard)
    root.setLevel(logging.INFO)
    ours.setLevel(logging.DEBUG)
    yield guard
    root.removeHandler(guard)
    root.setLevel(levels[0])
    ours.setLevel(levels[1])
    leaks = guard.leaks()
    assert not leaks, f"{len(leaks)} log record(s) hold a token or a secret:\n" + "\n".join(leaks[:20])


@pytest.fixture(scope="session")
def azurite() -> Iterator[AzuriteEndpoints]:
    with running_azurite() as endpoints:
        yield endpoints


@pytest.fixture
def unique_name() -> str:
    """A storage-safe unique name (lowercase letters and digits, starts with a letter)."""
    return "t" + uuid.uuid4().hex[:20]


@pytest.fixture
def table_name(azurite: AzuriteEndpoints, unique_name: str) -> Iterator[str]:
    """A fresh table in the session's Azurite (its name), deleted after the test."""
    client = TableClient.from_connection_string(azurite.connection_string, table_name=unique_name)
    client.create_table()
    yield unique_name
    client.delete_table()


@pytest.fixture(scope="session")
def emulator(log_guard: LogGuard) -> Iterator[EmulatorInfo]:
    with running_emulator(scenario="test", seed=1) as info:
        log_guard.secrets |= secrets_of(info.data)
        yield info


@pytest.fixture(scope="module")
def private_emulator(log_guard: LogGuard) -> Iterator[EmulatorInfo]:
    with running_emulator(scenario="test", seed=1) as info:
        log_guard.secrets |= secrets_of(info.data)
        yield info


@pytest.fixture
def emulator_env(emulator: EmulatorInfo, monkeypatch: pytest.MonkeyPatch) -> EmulatorInfo:
    """The test process trusts the emulator's CA and sees its managed identity endpoint (restored after)."""
    for name, value in emulator.env().items():
        monkeypatch.setenv(name, value)
    return emulator


# Fixtures that start a real server: a test using one is an integration test wherever its file lives.
REAL_SERVER_FIXTURES = frozenset({"azurite", "emulator", "private_emulator", "emulator_env"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if REAL_SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)
