"""Running the operator CLI in-process against a relay whose storage is Azurite and whose Microsoft
services are the emulator. Each test module gets its own Azurite (the registry, checkpoint and queue
names are fixed, so modules must not share storage)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from io import StringIO
from typing import Any

import pytest

from localdev.azurite import AzuriteEndpoints, running_azurite
from localdev.emulator_process import EmulatorInfo
from localdev.serve_local import relay_environment
from shared.cli import main


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@dataclass
class Relay:
    env: dict[str, str]
    emulator: EmulatorInfo | None = None

    def run(self, *args: str, **env: str) -> Result:
        out, err = StringIO(), StringIO()
        code = main(list(args), environ={**self.env, **env}, stdout=out, stderr=err)
        return Result(code, out.getvalue(), err.getvalue())

    def json(self, *args: str, **env: str) -> tuple[int, Any]:
        result = self.run("--json", *args, **env)
        assert result.out, result.err
        return result.code, result.json()

    def tenant(self, display_name: str) -> dict[str, Any]:
        assert self.emulator is not None
        return next(t for t in self.emulator.tenants if t["display_name"] == display_name)


@pytest.fixture(scope="module")
def module_azurite() -> Iterator[AzuriteEndpoints]:
    with running_azurite() as endpoints:
        yield endpoints


@pytest.fixture(scope="module")
def relay(module_azurite: AzuriteEndpoints, emulator: EmulatorInfo) -> Iterator[Relay]:
    """A relay on its own Azurite and the session emulator; the process environment trusts the emulator."""
    env = relay_environment(module_azurite, emulator, RELAY_SETTLE_SECONDS="0")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in emulator.env().items():
            patch.setenv(name, value)
        yield Relay(env, emulator)


def register(relay: Relay, *names: str, **fields: Any) -> list[str]:
    """Register scenario tenants by display name (``fields`` override registry fields); return their ids."""
    ids = []
    for name in names:
        spec = relay.tenant(name)
        args = ["tenants", "add", spec["tenant_id"], "--name", name, "--cloud", fields.get("cloud", spec["cloud"])]
        args += [
            "--region",
            fields.get("region", spec["region"]),
            "--feeds",
            fields.get("feeds", "mde-alerts,xdr-incidents"),
        ]
        result = relay.run(*args)
        assert result.code == 0, result.err
        ids.append(spec["tenant_id"])
    return ids
