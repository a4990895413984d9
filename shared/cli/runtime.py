"""The application's services for commands that call Defender or drain queues: ``shared.bootstrap``'s
``Services``, built once per command from the full settings, exactly as the Function App builds them."""

from __future__ import annotations

from shared.bootstrap import Services
from shared.cli.context import CliContext


def services(ctx: CliContext) -> Services:
    def build() -> Services:
        svc = Services(ctx.settings())
        svc.ensure_storage()  # local runs start from an empty Azurite; creating what exists is a no-op
        return svc

    svc: Services = ctx.cached("services", build)
    return svc
