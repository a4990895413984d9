"""The Microsoft Graph hosts per national cloud, each with the one token audience it accepts.

https://learn.microsoft.com/graph/deployments: the global service ``graph.microsoft.com`` (commercial and GCC:
"If you're working in a Microsoft 365 GCC environment, continue using the worldwide endpoints"), US Government
L4 ``graph.microsoft.us`` (GCC High) and L5 ``dod-graph.microsoft.us`` (DoD). The ``alerts_v2`` and
``incidents`` pages list the global service and US Government L4/L5 as supported
(https://learn.microsoft.com/graph/api/security-list-alerts_v2). A tenant is served only by its own cloud's host
(docs/contracts.md §1.7).
"""

from __future__ import annotations

from dataclasses import dataclass

from emulator.world import CloudName


@dataclass(frozen=True)
class GraphHost:
    host: str
    audience: str  # the App ID URI the token's ``aud`` must name (scope = audience + "/.default")
    clouds: frozenset[CloudName]


GRAPH_HOSTS: dict[str, GraphHost] = {
    config.host: config
    for config in (
        GraphHost("graph.microsoft.com", "https://graph.microsoft.com", frozenset({"commercial", "gcc"})),
        GraphHost("graph.microsoft.us", "https://graph.microsoft.us", frozenset({"gcc-high"})),
        GraphHost("dod-graph.microsoft.us", "https://dod-graph.microsoft.us", frozenset({"dod"})),
    )
}
