"""The Defender route table (docs/contracts.md §1.6): path pattern -> methods, handlers and roles.

A key's segments are lowercase literals or ``*`` (one segment, passed to the handler in ``ctx.args``);
a path no key matches is 404 (``pipeline.Router``).
"""

from __future__ import annotations

from emulator.defender import action_handlers, indicators, machine_tags, mde, mde_related, tvm, xdr
from emulator.defender.machine_actions import ACTIONS, CANCEL_PERMISSIONS
from emulator.defender.pipeline import Handler, Roles, Route
from emulator.world import Resource

# The application permissions each route accepts (any one of), from the Permissions table of its page:
# get-alerts, update-alert, batch-update-alerts, get-machines, get-machineactions-collection,
# get-alert-related-{machine,files,ip,domain,user}-info, get-file-information, get-discovered-vulnerabilities,
# get-installed-software, get-assessment-software-vulnerabilities under
# https://learn.microsoft.com/defender-endpoint/api/, and https://learn.microsoft.com/defender-xdr/api-list-incidents,
# api-update-incidents.
ALERT_READ = ("Alert.Read.All", "Alert.ReadWrite.All")
ALERT_WRITE = ("Alert.ReadWrite.All",)
MACHINE_READ = ("Machine.Read.All", "Machine.ReadWrite.All")
FILE_READ = ("File.Read.All",)
IP_READ = ("Ip.Read.All",)
URL_READ = ("URL.Read.All",)
USER_READ = ("User.Read.All",)
VULNERABILITY_READ = ("Vulnerability.Read.All",)
SOFTWARE_READ = ("Software.Read.All",)
INCIDENT_READ = ("Incident.Read.All", "Incident.ReadWrite.All")
INCIDENT_WRITE = ("Incident.ReadWrite.All",)


def _fixed(roles: tuple[str, ...]) -> Roles:
    return lambda _args: roles


def _route(
    name: str,
    family: str,
    resource: Resource,
    *,
    families: dict[str, str] | None = None,
    **methods: tuple[Handler, Roles],
) -> Route:
    return Route(name=name, family=family, resource=resource, methods=methods, method_families=families or {})


def _alert_related(handler: Handler, roles: tuple[str, ...]) -> Route:
    return _route("alerts", "alerts", "mde", GET=(handler, _fixed(roles)))


# One literal route per machine action (a name the catalog does not hold is an unknown path: 404).
_ACTION_ROUTES: dict[tuple[str, ...], Route] = {
    ("machines", "*", name): _route(
        "machineactions", "machineactions", "mde", POST=(action_handlers.create_action, action_handlers.action_roles)
    )
    for name in ACTIONS
}

ROUTES: dict[tuple[str, ...], Route] = {
    ("alerts",): _route("alerts", "alerts", "mde", GET=(mde.list_alerts, _fixed(ALERT_READ))),
    ("alerts", "batchupdate"): _route(
        "alerts", "alerts-batch", "mde", POST=(mde.batch_update_alerts, _fixed(ALERT_WRITE))
    ),
    ("alerts", "*"): _route(
        "alerts", "alerts", "mde", GET=(mde.get_alert, _fixed(ALERT_READ)), PATCH=(mde.patch_alert, _fixed(ALERT_WRITE))
    ),
    ("alerts", "*", "machine"): _alert_related(mde_related.alert_machine, MACHINE_READ),
    ("alerts", "*", "files"): _alert_related(mde_related.alert_files, FILE_READ),
    ("alerts", "*", "ips"): _alert_related(mde_related.alert_ips, IP_READ),
    ("alerts", "*", "domains"): _alert_related(mde_related.alert_domains, URL_READ),
    ("alerts", "*", "user"): _alert_related(mde_related.alert_user, USER_READ),
    ("files", "*"): _route("files", "files", "mde", GET=(mde_related.get_file, _fixed(FILE_READ))),
    ("machines",): _route("machines", "machines", "mde", GET=(mde.list_machines, _fixed(MACHINE_READ))),
    ("machines", "softwarevulnerabilitiesbymachine"): _route(
        "vulnerabilities",
        "assessments",
        "mde",
        GET=(tvm.software_vulnerabilities_by_machine, _fixed(VULNERABILITY_READ)),
    ),
    ("machines", "*"): _route("machines", "machines", "mde", GET=(mde.get_machine, _fixed(MACHINE_READ))),
    ("machines", "*", "alerts"): _route("alerts", "alerts", "mde", GET=(mde.machine_alerts, _fixed(ALERT_READ))),
    ("machines", "*", "alerts", "$count"): _route(
        "alerts", "alerts", "mde", GET=(mde.machine_alerts_count, _fixed(ALERT_READ))
    ),
    ("machines", "*", "vulnerabilities"): _route(
        "vulnerabilities", "vulnerabilities", "mde", GET=(tvm.machine_vulnerabilities, _fixed(VULNERABILITY_READ))
    ),
    ("machines", "*", "software"): _route(
        "software", "software", "mde", GET=(tvm.machine_software, _fixed(SOFTWARE_READ))
    ),
    # add-or-remove-machine-tags: the machines family (100/min, 1,500/h on the page).
    ("machines", "*", "tags"): _route(
        "machines", "machines", "mde", POST=(machine_tags.tag_machine, _fixed(machine_tags.TAG_ROLES))
    ),
    **_ACTION_ROUTES,
    ("machineactions",): _route(
        "machineactions", "machineactions", "mde", GET=(action_handlers.list_actions, _fixed(MACHINE_READ))
    ),
    ("machineactions", "*"): _route(
        "machineactions", "machineactions", "mde", GET=(action_handlers.get_action, _fixed(MACHINE_READ))
    ),
    ("machineactions", "*", "cancel"): _route(
        "machineactions", "machineactions", "mde", POST=(action_handlers.cancel_action, _fixed(CANCEL_PERMISSIONS))
    ),
    # The incidents list has its own, lower limit (50/min), and so has PATCH; get-incident allows 100/min:
    # https://learn.microsoft.com/defender-xdr/api-list-incidents, api-get-incident, api-update-incidents
    ("incidents",): _route("incidents", "incidents", "xdr", GET=(xdr.list_incidents, _fixed(INCIDENT_READ))),
    ("incidents", "*"): _route(
        "incidents",
        "incident",
        "xdr",
        families={"PATCH": "incident-update"},
        GET=(xdr.get_incident, _fixed(INCIDENT_READ)),
        PATCH=(xdr.update_incident, _fixed(INCIDENT_WRITE)),
    ),
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
