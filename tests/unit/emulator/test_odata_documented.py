"""Every ``$filter`` example of Microsoft's OData samples page parses and selects what the page says, against the
emulator's own Alert, Machine and MachineAction schemas; and the string rules the emulator chose where the
pages are silent (docs/contracts.md §1.6a).

Page: https://learn.microsoft.com/defender-endpoint/api/exposed-apis-odata-samples (Examples 2-8), and its
earlier revision's Example 1: "Get all the devices with the tag 'ExampleTag'":
``$filter=machineTags/any(tag: tag eq 'ExampleTag')``.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from emulator.defender.action_handlers import ACTION_SCHEMA
from emulator.defender.mde import ALERT_SCHEMA, MACHINE_SCHEMA
from emulator.defender.odata import Schema, parse_filter

MACHINES = [
    {"computerDnsName": "mymachine1.contoso.com", "riskScore": "High", "healthStatus": "Active",
     "lastSeen": datetime(2021, 1, 25, 7, 27, 36, tzinfo=UTC), "machineTags": ["test tag 1", "ExampleTag"]},
    {"computerDnsName": "MyMachine2.contoso.com", "riskScore": "Low", "healthStatus": "ImpairedCommunication",
     "lastSeen": datetime(2018, 7, 1, tzinfo=UTC), "machineTags": []},
    {"computerDnsName": "server7.contoso.com", "riskScore": "Medium", "healthStatus": "Inactive",
     "lastSeen": datetime(2019, 3, 3, tzinfo=UTC), "machineTags": ["exampletag"]},
]  # fmt: skip
ALERTS = [
    {"id": "a1", "lastUpdateTime": datetime(2020, 7, 20, 10, 53, 50, tzinfo=UTC), "status": "New"},
    {"id": "a2", "lastUpdateTime": datetime(2019, 11, 1, tzinfo=UTC), "status": "Resolved"},
]
ACTIONS = [
    {"id": "x1", "requestor": "Analyst@contoso.com", "type": "RunAntiVirusScan"},
    {"id": "x2", "requestor": "Analyst@contoso.com", "type": "Isolate"},
]


def _matching(text: str, schema: Schema, records: list[dict[str, object]], key: str) -> list[object]:
    predicate = parse_filter(text, schema)
    return [r[key] for r in records if predicate(r)]


@pytest.mark.parametrize(
    ("example", "text", "expected"),
    [
        ("1 (earlier revision)", "machineTags/any(tag: tag eq 'ExampleTag')", ["mymachine1.contoso.com"]),
        ("3", "riskScore eq 'High'", ["mymachine1.contoso.com"]),
        ("4", "healthStatus ne 'Active'", ["MyMachine2.contoso.com", "server7.contoso.com"]),
        ("5", "lastSeen gt 2018-08-01Z", ["mymachine1.contoso.com", "server7.contoso.com"]),
        ("8", "startswith(computerDnsName,'mymachine')", ["mymachine1.contoso.com"]),
    ],
)
def test_machine_examples_of_the_samples_page(example: str, text: str, expected: list[str]) -> None:
    # GIVEN the page's filter WHEN applied to machines THEN exactly the machines it describes
    assert _matching(text, MACHINE_SCHEMA, MACHINES, "computerDnsName") == expected, example


def test_alert_and_machine_action_examples_of_the_samples_page() -> None:
    # Example 2: "Get all the alerts last updated after 2019-11-22 00:00:00"
    assert _matching("lastUpdateTime+ge+2019-11-22T00:00:00Z".replace("+", " "), ALERT_SCHEMA, ALERTS, "id") == ["a1"]
    # Example 6: "Get all the Anti-Virus scans that the user Analyst@examples.onmicrosoft.com created"
    text = "requestor eq 'Analyst@contoso.com' and type eq 'RunAntiVirusScan'"
    assert _matching(text, ACTION_SCHEMA, ACTIONS, "id") == ["x1"]
    # Example 7 filters the machine's alerts: "status ne 'Resolved'"
    assert _matching("status ne 'Resolved'", ALERT_SCHEMA, ALERTS, "id") == ["a1"]


def test_lambda_all_and_any_without_a_predicate() -> None:
    # any() is "the collection is not empty"; all() over an empty collection is true (OData 5.1.1.13)
    assert _matching("machineTags/any()", MACHINE_SCHEMA, MACHINES, "riskScore") == ["High", "Medium"]
    assert _matching("machineTags/all(t: startswith(t,'test') or t eq 'ExampleTag')", MACHINE_SCHEMA, MACHINES,
                     "riskScore") == ["High", "Low"]  # fmt: skip
    assert _matching("not machineTags/any(t: t eq 'ExampleTag')", MACHINE_SCHEMA, MACHINES, "riskScore") == [
        "Low",
        "Medium",
    ]


def test_string_rules_chosen_where_the_pages_are_silent() -> None:
    # Comparisons and string functions are case-sensitive, as OData defines them ...
    assert _matching("startswith(computerDnsName,'MyMachine')", MACHINE_SCHEMA, MACHINES, "riskScore") == ["Low"]
    assert _matching("machineTags/any(t: t eq 'exampletag')", MACHINE_SCHEMA, MACHINES, "riskScore") == ["Medium"]
    # ... and tolower / toupper make them case-insensitive
    text = "startswith(tolower(computerDnsName),'mymachine')"
    assert _matching(text, MACHINE_SCHEMA, MACHINES, "riskScore") == ["High", "Low"]
    assert _matching("machineTags/any(t: tolower(t) eq 'exampletag')", MACHINE_SCHEMA, MACHINES, "riskScore") == [
        "High",
        "Medium",
    ]
    assert _matching("toupper(riskScore) eq 'HIGH'", MACHINE_SCHEMA, MACHINES, "riskScore") == ["High"]
    # contains, endswith and in
    assert _matching("contains(computerDnsName,'7.contoso')", MACHINE_SCHEMA, MACHINES, "riskScore") == ["Medium"]
    assert _matching("endswith(computerDnsName,'.com')", MACHINE_SCHEMA, MACHINES, "riskScore") == [
        "High",
        "Low",
        "Medium",
    ]
    assert _matching("riskScore in ('High', 'Medium')", MACHINE_SCHEMA, MACHINES, "riskScore") == ["High", "Medium"]
    # property names are matched whatever their case (get-alerts writes "InvestigationId" beside "incidentId")
    assert _matching("RiskScore eq 'Low'", MACHINE_SCHEMA, MACHINES, "riskScore") == ["Low"]
