"""Input rules of the HTTP API: what is refused, with which status, naming which field."""

from __future__ import annotations

import json

import pytest

from shared.domain.catalogue import ACTIONS_BY_NAME
from shared.domain.errors import ValidationError
from shared.domain.machines import MachineRef
from shared.http.inputs import parse_action_body, parse_guid, parse_json_body, parse_lookup, parse_machine_ref


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("A" * 40, MachineRef("id", "a" * 40)),
        ("web01.contoso.com", MachineRef("name", "web01.contoso.com")),
        ("WEB01.contoso.com.", MachineRef("name", "WEB01.contoso.com")),
        ("10.0.0.1", MachineRef("ip", "10.0.0.1")),
        ("fe80:0:0::1", MachineRef("ip", "fe80::1")),
    ],
)
def test_machine_reference_is_an_id_a_name_or_an_ip(raw: str, expected: MachineRef) -> None:
    assert parse_machine_ref(raw) == expected


@pytest.mark.parametrize("raw", ["", "web 01", "web01'; drop", "a" * 254, "*", "web01*", "-bad.example", "x/y"])
def test_machine_reference_refuses_anything_else_naming_the_field(raw: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_machine_ref(raw)
    assert caught.value.field == "machine"
    assert caught.value.status == 422


def test_guid_is_normalised_and_junk_is_422() -> None:
    assert (
        parse_guid("{AAAAAAAA-1111-2222-3333-444444444444}", field="tenantId") == "aaaaaaaa-1111-2222-3333-444444444444"
    )
    with pytest.raises(ValidationError, match="tenantId must be a GUID"):
        parse_guid("contoso.onmicrosoft.com", field="tenantId")


def test_isolate_body_defaults_to_full_isolation_and_maps_to_defender_names() -> None:
    data = parse_action_body(ACTIONS_BY_NAME["isolate"], {"comment": "  alert 1234  "})
    assert data.comment == "alert 1234"
    assert data.options == {"IsolationType": "Full"}


def test_isolate_accepts_the_unmanaged_device_containment_the_page_documents() -> None:
    # "The IsolationType value should be set to 'UnManagedDevice'" for unmanaged devices (isolate-machine page)
    data = parse_action_body(ACTIONS_BY_NAME["isolate"], {"comment": "contain", "isolationType": "UnManagedDevice"})
    assert data.options == {"IsolationType": "UnManagedDevice"}
    with pytest.raises(ValidationError, match="Full, Selective, UnManagedDevice"):
        parse_action_body(ACTIONS_BY_NAME["isolate"], {"comment": "x", "isolationType": "Unmanaged"})


@pytest.mark.parametrize(
    ("action", "body", "field"),
    [
        ("isolate", {"comment": "x", "isolationType": "full"}, "isolationType"),  # Defender enums are case-sensitive
        ("isolate", {"comment": "x", "IsolationType": "Full"}, "IsolationType"),  # unknown field
        ("isolate", {}, "comment"),
        ("isolate", {"comment": ""}, "comment"),
        ("isolate", {"comment": "   "}, "comment"),
        ("isolate", {"comment": "x" * 1001}, "comment"),
        ("isolate", {"comment": 42}, "comment"),
        ("isolate", {"comment": "bad\x00byte"}, "comment"),
        ("scan", {"comment": "x", "scanType": "Deep"}, "scanType"),
        ("stop-and-quarantine", {"comment": "x"}, "sha1"),
        ("stop-and-quarantine", {"comment": "x", "sha1": "g" * 40}, "sha1"),
        ("stop-and-quarantine", {"comment": "x", "sha1": "a" * 64}, "sha1"),
    ],
)
def test_action_bodies_are_checked_field_by_field(action: str, body: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_action_body(ACTIONS_BY_NAME[action], body)
    assert caught.value.status == 422
    assert caught.value.field == field


def test_comment_of_exactly_1000_characters_is_accepted() -> None:
    assert len(parse_action_body(ACTIONS_BY_NAME["unisolate"], {"comment": "y" * 1000}).comment) == 1000


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"x" * (64 * 1024 + 1), "application/json", 413),
        (b'{"comment": "x"}', "text/plain", 415),
        (b'{"comment": "x"}', None, 415),
        (b"\xff\xfe", "application/json", 400),
        (b"{not json", "application/json", 400),
        (b'{"comment": "a", "comment": "b"}', "application/json", 400),
        (b'{"comment": NaN}', "application/json", 400),
        (b"[" * 20000 + b"]" * 20000, "application/json", 400),
        (b'["comment"]', "application/json", 400),
        (b"", "application/json", 400),
    ],
)
def test_unreadable_bodies_get_400_413_or_415(body: bytes, content_type: str | None, status: int) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_json_body(body, content_type, required=True)
    assert caught.value.status == status


def test_json_with_charset_parameter_is_json() -> None:
    body = json.dumps({"comment": "ok"}).encode()
    assert parse_json_body(body, "Application/JSON; charset=utf-8", required=True) == {"comment": "ok"}


def test_lookup_needs_exactly_one_of_name_or_ip() -> None:
    assert parse_lookup({"ip": "10.0.0.1"}) == MachineRef("ip", "10.0.0.1")
    for params in ({}, {"name": "a", "ip": "10.0.0.1"}, {"ip": "10.0.0"}, {"name": "a b"}):
        with pytest.raises(ValidationError):
            parse_lookup(params)


@pytest.mark.parametrize("scoped", ["fe80::1%eth0", "fe80::1%' or 'a' eq 'a", "fe80::1%25eth0", "::1%1"])
def test_a_scoped_ipv6_address_is_refused_on_the_machine_route_and_the_lookup_before_any_defender_call(
    scoped: str,
) -> None:
    from tests.fakes.actions import TENANT_A, api_request, build_harness

    # GIVEN the HTTP API over a fake Defender that counts every call
    h = build_harness()
    # WHEN a caller names a machine by an IPv6 address with a zone (scope id), on the route or in ?ip=
    route, request = api_request("POST", f"tenants/{TENANT_A}/machines/{scoped}/isolate", body={"comment": "x"})
    on_route = h.api.handle(route, request)
    route, request = api_request("GET", f"tenants/{TENANT_A}/machines", params={"ip": scoped})
    in_lookup = h.api.handle(route, request)
    # THEN both are 422 problems naming the field, and Defender was never called
    assert (on_route.status, on_route.body["field"]) == (422, "machine")
    assert (in_lookup.status, in_lookup.body["field"]) == (422, "ip")
    assert "zone" in on_route.body["detail"]
    assert "zone" in in_lookup.body["detail"]
    assert h.defender.total_calls == 0
