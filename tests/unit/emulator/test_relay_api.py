"""The emulated Entra ID for the relay's own API: token shapes per accepted version, and a signing-key
rollover that leaves tokens signed before it valid."""

from __future__ import annotations

import jwt
import pytest

from emulator.entra import relay_api
from emulator.entra.tokens import TokenInvalidError, TokenService
from emulator.world import ApiCaller, World


@pytest.fixture
def world() -> World:
    world = World(seed=3)
    world.partner_tenant_id = "99999999-8888-4777-8666-555555555555"
    relay_api.create_relay_api(world)
    return world


CALLER = ApiCaller(kind="app", client_id="c1", object_id="o1", display_name="SOAR", roles=["Relay.Read"])


def test_v1_tokens_carry_the_requested_audience_and_appid_v2_the_client_id_and_azp(world: World) -> None:
    tokens = TokenService(world.clock)
    api = world.relay_api
    assert api is not None
    v1 = tokens.verify(relay_api.issue(world, tokens, CALLER, audience=api.app_id_uri, acr="1").access_token)
    assert (v1["ver"], v1["aud"], v1["appid"], v1["iss"]) == (
        "1.0", api.app_id_uri, "c1", f"https://sts.windows.net/{world.partner_tenant_id}/"
    )  # fmt: skip
    api.token_version = 2
    v2 = tokens.verify(relay_api.issue(world, tokens, CALLER, audience=api.app_id_uri, acr="1").access_token)
    assert (v2["ver"], v2["aud"], v2["azp"], v2["iss"]) == (
        "2.0", api.client_id, "c1", f"https://login.microsoftonline.com/{world.partner_tenant_id}/v2.0"
    )  # fmt: skip
    assert v1["roles"] == v2["roles"] == ["Relay.Read"]
    assert "appid" not in v2


def test_a_rollover_signs_with_a_new_key_and_keeps_the_old_one_published(world: World) -> None:
    tokens = TokenService(world.clock)
    before = relay_api.issue(world, tokens, CALLER, audience="api://x", acr="1").access_token
    never_presented = relay_api.issue(world, tokens, CALLER, audience="api://x", acr="1").access_token
    old_kid = tokens.kid
    new_kid = tokens.rotate_signing_key()
    after = relay_api.issue(world, tokens, CALLER, audience="api://x", acr="1").access_token
    assert jwt.get_unverified_header(after)["kid"] == new_kid != old_kid
    assert [k["kid"] for k in tokens.jwks()["keys"]] == [new_kid, old_kid]
    assert tokens.verify(before)["oid"] == tokens.verify(after)["oid"] == "o1"
    for _ in range(3):  # only the last three retired keys stay published: the first one is gone now
        tokens.rotate_signing_key()
    assert old_kid not in {k["kid"] for k in tokens.jwks()["keys"]}
    with pytest.raises(TokenInvalidError):
        tokens.verify(never_presented)
