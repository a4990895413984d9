"""The Defender route table (docs/contracts.md §1.6): path pattern -> methods, handlers and roles."""

from __future__ import annotations

from emulator.defender import action_handlers, indicators, mde, xdr
from emulator.defender.machine_actions import CANCEL_PERMISSIONS
from emulator.defender.pipeline import Handler, Roles, Route
from emulator.world import Resource

# The application permissions each route accepts (any one of), from the Permissions table of its page:
# get-alerts, update-alert, get-machines, get-machineactions-collection under
# https://learn.microsoft.com/defender-endpoint/api/, and https://learn.microsoft.com/defender-xdr/api-list-incidents.
ALERT_READ = ("Alert.Read.All", "Alert.ReadWrite.All")
ALERT_WRITE = ("Alert.ReadWrite.All",)
MACHINE_READ = ("Machine.Read.All", "Machine.ReadWrite.All")
INCIDENT_READ = ("Incident.Read.All", "Incident.ReadWrite.All")


def _fixed(roles: tuple[str, ...]) -> Roles:
    return lambda _args: roles


def _route(name: str, family: str, resource: Resource, **methods: tuple[Handler, Roles]) -> Route:
    return Route(name=name, family=family, resource=resource, methods=methods)


ROUTES: dict[tuple[str, ...], Route] = {
    ("alerts",): _route("alerts", "alerts", "mde", GET=(mde.list_alerts, _fixed(ALERT_READ))),
    ("alerts", "*"): _route(
        "alerts", "alerts", "mde", GET=(mde.get_alert, _fixed(ALERT_READ)), PATCH=(mde.patch_alert, _fixed(ALERT_WRITE))
    ),
    ("machines",): _route("machines", "machines", "mde", GET=(mde.list_machines, _fixed(MACHINE_READ))),
    ("machines", "*"): _route("machines", "machines", "mde", GET=(mde.get_machine, _fixed(MACHINE_READ))),
    ("machines", "*", "*"): _route(
        "machineactions", "machineactions", "mde", POST=(action_handlers.create_action, action_handlers.action_roles)
    ),
    ("machineactions",): _route(
        "machineactions", "machineactions", "mde", GET=(action_handlers.list_actions, _fixed(MACHINE_READ))
    ),
    ("machineactions", "*"): _route(
        "machineactions", "machineactions", "mde", GET=(action_handlers.get_action, _fixed(MACHINE_READ))
    ),
    ("machineactions", "*", "cancel"): _route(
        "machineactions", "machineactions", "mde", POST=(action_handlers.cancel_action, _fixed(CANCEL_PERMISSIONS))
    ),
    # The incidents list has its own, lower limit (50/min); get-incident allows 100/min:
    # https://learn.microsoft.com/defender-xdr/api-list-incidents,
    # https://learn.microsoft.com/defender-xdr/api-get-incident
    ("incidents",): _route("incidents", "incidents", "xdr", GET=(xdr.list_incidents, _fixed(INCIDENT_READ))),
    ("incidents", "*"): _route("incidents", "incident", "xdr", GET=(xdr.get_incident, _fixed(INCIDENT_READ))),
    # Indicators (emulator/defender/indicators.py): import and BatchDelete have their own, lower limits.
    ("indicators",): _route(
        "indicators",
        "indicators",
        "mde",
        GET=(indicators.list_indicators, _fixed(indicators.TI_ROLES)),
        POST=(indicators.submit_indicator, _fixed(indicators.TI_ROLES)),
    ),
    ("indicators", "*"): _route(
        "indicators", "indicators", "mde", DELETE=(indicators.delete_indicator, _fixed(indicators.TI_ROLES))
    ),
    ("indicators", "import"): _route(
        "indicators-import",
        "indicators-import",
        "mde",
        POST=(indicators.import_indicators, _fixed(indicators.TI_ROLES)),
    ),
    ("indicators", "batchdelete"): _route(
        "indicators-batchdelete",
        "indicators-batchdelete",
        "mde",
        POST=(indicators.batch_delete, _fixed(indicators.TI_ROLES)),
    ),
}
