"""Clouds, regions and host overrides (contracts §1.3, docs/microsoft-apis.md §Hosts and token scopes per cloud)."""

from __future__ import annotations

import pytest

from shared.domain.clouds import AppFamily, Cloud, Region, consent_link, endpoints_for, rewrite_url
from shared.domain.errors import ValidationError


@pytest.mark.parametrize(
    ("cloud", "region", "expected"),
    [
        (
            "commercial",
            "auto",
            (
                "https://login.microsoftonline.com",
                "https://api.security.microsoft.com",
                "https://api.security.microsoft.com",
                "https://api.securitycenter.microsoft.com/.default",
                "https://api.security.microsoft.com/.default",
                AppFamily.COMMERCIAL,
            ),
        ),
        (
            "commercial",
            "eu",
            (
                "https://login.microsoftonline.com",
                "https://eu.api.security.microsoft.com",
                "https://eu.api.security.microsoft.com",
                "https://api.securitycenter.microsoft.com/.default",
                "https://api.security.microsoft.com/.default",
                AppFamily.COMMERCIAL,
            ),
        ),
        (
            "gcc",
            "auto",
            (
                "https://login.microsoftonline.com",
                "https://api-gcc.securitycenter.microsoft.us",
                "https://api-gcc.security.microsoft.us",
                "https://api-gcc.securitycenter.microsoft.us/.default",
                "https://api-gcc.security.microsoft.us/.default",
                AppFamily.COMMERCIAL,
            ),
        ),
        (
            "gcc-high",
            "auto",
            (
                "https://login.microsoftonline.us",
                "https://api-gov.securitycenter.microsoft.us",
                "https://api-gov.security.microsoft.us",
                "https://api-gov.securitycenter.microsoft.us/.default",
                "https://api-gov.security.microsoft.us/.default",
                AppFamily.USGOV,
            ),
        ),
        (
            "dod",
            "auto",
            (
                "https://login.microsoftonline.us",
                "https://api-gov.securitycenter.microsoft.us",
                "https://api-gov.security.microsoft.us",
                "https://api-gov.securitycenter.microsoft.us/.default",
                "https://api-gov.security.microsoft.us/.default",
                AppFamily.USGOV,
            ),
        ),
    ],
)
def test_endpoints_match_the_contract_table(cloud, region, expected):
    login, mde, xdr, mde_scope, xdr_scope, family = expected
    # GIVEN a cloud and region WHEN endpoints are computed THEN they are the documented hosts and scopes
    ep = endpoints_for(cloud, region)
    assert (ep.login_base, ep.mde_base, ep.xdr_base) == (login, mde, xdr)
    assert (ep.mde_scope, ep.xdr_scope, ep.family) == (mde_scope, xdr_scope, family)
    assert ep.authority("t1") == f"{login}/t1"


def test_mde_token_audience_accepts_resource_uri_and_first_party_app_id():
    ep = endpoints_for(Cloud.COMMERCIAL, Region.UK)
    assert "https://api.securitycenter.microsoft.com" in ep.mde_audiences
    assert "fc780465-2017-40d4-a0c5-307022471b92" in ep.mde_audiences
    assert "https://api.security.microsoft.com" not in ep.mde_audiences
    assert "https://api.security.microsoft.com" in ep.xdr_audiences


def test_region_on_a_gov_cloud_is_rejected_by_name():
    with pytest.raises(ValidationError, match="region 'eu' applies to the commercial cloud only") as info:
        endpoints_for("gcc-high", "eu")
    assert info.value.field == "region"


@pytest.mark.parametrize(
    ("cloud", "region", "field"), [("azure-china", "auto", "cloud"), ("commercial", "mars", "region")]
)
def test_unknown_cloud_or_region_lists_the_allowed_values(cloud, region, field):
    with pytest.raises(ValidationError, match="is not one of") as info:
        endpoints_for(cloud, region)
    assert info.value.field == field


def test_consent_link_uses_the_family_login_host_and_common():
    assert consent_link("usgov", "abc").startswith(
        "https://login.microsoftonline.us/common/oauth2/authorize?prompt=consent&client_id=abc"
    )
    assert consent_link(AppFamily.COMMERCIAL, "abc").startswith("https://login.microsoftonline.com/common/")


def test_rewrite_url_maps_known_hosts_and_keeps_path_and_query():
    overrides = {"api.security.microsoft.com": "https://127.0.0.1:8443", "x.example": "https://127.0.0.1:9/pre/"}
    assert rewrite_url("https://api.security.microsoft.com/api/alerts?$top=5", overrides) == (
        "https://127.0.0.1:8443/api/alerts?$top=5"
    )
    assert rewrite_url("https://X.example/a", overrides) == "https://127.0.0.1:9/pre/a"
    assert (
        rewrite_url("https://eu.api.security.microsoft.com/api", overrides)
        == "https://eu.api.security.microsoft.com/api"
    )
    assert rewrite_url("https://api.security.microsoft.com/api", {}) == "https://api.security.microsoft.com/api"


@pytest.mark.parametrize(
    ("cloud", "region", "graph"),
    [
        ("commercial", "eu", "https://graph.microsoft.com"),  # Graph has no regional hosts
        ("gcc", "auto", "https://graph.microsoft.com"),  # GCC uses the commercial Graph
        ("gcc-high", "auto", "https://graph.microsoft.us"),
        ("dod", "auto", "https://dod-graph.microsoft.us"),
    ],
)
def test_graph_host_scope_and_audience_per_cloud(cloud, region, graph):
    # https://learn.microsoft.com/graph/deployments: one Graph root per national cloud, scope = root + /.default
    ep = endpoints_for(cloud, region)
    assert (ep.base_url("graph"), ep.scope("graph")) == (graph, graph + "/.default")
    assert ep.audiences("graph") == {graph, graph + "/", "00000003-0000-0000-c000-000000000000"}
    assert ep.audiences("graph").isdisjoint(ep.audiences("mde"))


def test_an_unknown_api_resource_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown API resource"):
        endpoints_for("commercial").base_url("siem")
