"""Tenant model and JSON import: clear errors that name the entry and the field."""

from __future__ import annotations

import json

import pytest

from shared.domain.clouds import Cloud, Region
from shared.domain.errors import ValidationError
from shared.domain.tenant import load_tenants_json, parse_tenant, tenant_to_json

TID = "AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE"


def test_minimal_tenant_gets_defaults_and_a_lowercased_id():
    t = parse_tenant({"tenant_id": TID, "display_name": " Contoso "}, where="t")
    assert t.tenant_id == TID.lower()
    assert (t.display_name, t.cloud, t.region, t.enabled) == ("Contoso", Cloud.COMMERCIAL, Region.AUTO, True)
    # a new tenant reads Microsoft Graph (the MDE and XDR APIs stop on 2027-02-01), all service sources
    assert t.feeds == {"graph-alerts", "graph-incidents"}
    assert (t.expand_incident_alerts, t.service_sources) == (False, None)
    assert t.allowed_actions is None
    assert t.actions_allowed(frozenset({"isolate"})) == {"isolate"}


def test_full_tenant_and_the_roles_its_feeds_need():
    t = parse_tenant(
        {
            "tenant_id": TID,
            "display_name": "Fabrikam",
            "cloud": "gcc-high",
            "feeds": ["mde-alerts", "xdr-incidents"],
            "allowed_actions": ["isolate", "unisolate", "offboard"],
            "enabled": False,
        },
        where="t",
    )
    assert t.cloud is Cloud.GCC_HIGH
    assert t.required_roles("mde") == {"Alert.Read.All"}
    assert t.required_roles("xdr") == {"Incident.Read.All"}
    assert t.actions_allowed(frozenset({"scan"})) == {"isolate", "unisolate", "offboard"}


@pytest.mark.parametrize(
    ("change", "field", "text"),
    [
        ({"tenant_id": "contoso.onmicrosoft.com"}, "tenant_id", "is not a tenant id"),
        ({"cloud": "china"}, "cloud", "is not one of"),
        ({"cloud": "dod", "region": "eu"}, "region", "commercial cloud only"),
        ({"feeds": ["mde-alerts", "graph"]}, "feeds", "unknown value(s) graph"),
        ({"feeds": []}, "feeds", "at least one"),
        ({"allowed_actions": ["isolate", "reboot"]}, "allowed_actions", "reboot"),
        ({"enabled": "yes"}, "enabled", "true or false"),
        ({"enabeld": False}, "enabeld", "unknown field"),
        ({"display_name": ""}, "display_name", "non-empty"),
    ],
)
def test_bad_entries_name_where_and_which_field(change, field, text):
    with pytest.raises(ValidationError) as info:
        parse_tenant({"tenant_id": TID, "display_name": "X", **change}, where="tenants[4]")
    assert info.value.field == field
    assert str(info.value).startswith(f"tenants[4].{field}: ")
    assert text in str(info.value)


def test_json_import_accepts_a_list_or_an_object_and_reports_the_index():
    other = "00000000-0000-0000-0000-000000000001"
    entries = [{"tenant_id": TID, "display_name": "A"}, {"tenant_id": other, "display_name": "B", "region": "eu"}]
    assert [t.display_name for t in load_tenants_json(json.dumps(entries))] == ["A", "B"]
    assert len(load_tenants_json(json.dumps({"tenants": entries}))) == 2
    entries.append({"tenant_id": TID.lower(), "display_name": "dup"})
    with pytest.raises(ValidationError, match=r"tenants\[2\]\.tenant_id: duplicate of tenants\[0\]"):
        load_tenants_json(json.dumps(entries))
    with pytest.raises(ValidationError, match="line 1, column 2"):
        load_tenants_json("{x")


def test_emulator_style_entries_import_when_unknown_fields_are_ignored():
    entry = {"tenant_id": TID, "display_name": "A", "consent": "full", "roles": {}, "machines": 5}
    assert load_tenants_json(json.dumps([entry]), ignore_unknown=True)[0].tenant_id == TID.lower()


def test_graph_options_of_a_tenant_round_trip_and_are_checked():
    raw = {
        "tenant_id": TID,
        "expand_incident_alerts": True,
        "service_sources": "microsoftDefenderForEndpoint,dataLossPrevention",
    }
    t = parse_tenant(raw, where="t")
    assert (t.expand_incident_alerts, t.service_sources) == (
        True,
        {"microsoftDefenderForEndpoint", "dataLossPrevention"},
    )
    assert parse_tenant(tenant_to_json(t), where="again") == t
    # "all" and an empty list mean every source
    assert parse_tenant({"tenant_id": TID, "service_sources": "all"}, where="t").service_sources is None
    # a value that is not an enum member name is refused by field, so it can never reach an OData filter
    with pytest.raises(ValidationError) as caught:
        parse_tenant({"tenant_id": TID, "service_sources": ["x' or 1 eq 1"]}, where="tenants[0]")
    assert caught.value.field == "service_sources"
    with pytest.raises(ValidationError, match="expand_incident_alerts: must be true or false"):
        parse_tenant({"tenant_id": TID, "expand_incident_alerts": "yes"}, where="t")


def test_a_registry_row_from_before_the_graph_feeds_keeps_reading_mde_alerts():
    # GIVEN a stored row with no feeds and no Graph options (written before either existed)
    from shared.tenants.store import _tenant_from_entity

    tenant = _tenant_from_entity({"RowKey": TID.lower(), "display_name": "Old", "cloud": "commercial"})
    # THEN it still means what it meant: the MDE alert feed, every service source, no $expand
    assert tenant.feeds == {"mde-alerts"}
    assert (tenant.expand_incident_alerts, tenant.service_sources) == (False, None)
