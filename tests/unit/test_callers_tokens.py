"""Caller tokens: what the relay accepts (v1.0 and v2.0 tokens of the partner tenant for its API) and every
way a token is refused, and how the signing keys are fetched, cached and rolled over."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.callers.tokens import MAX_TOKEN_CHARS, TokenValidator
from shared.domain.errors import CallerAuthenticationError, SigningKeysUnavailableError
from tests.fakes.entra import API_CLIENT_ID, APP_ID_URI, PARTNER, SOAR_APP, SOAR_OID, FakeEntra

OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # not the partner tenant's


@pytest.fixture(scope="module")
def entra() -> FakeEntra:
    return FakeEntra()


def test_a_v1_token_names_the_app_its_object_and_its_roles(entra: FakeEntra) -> None:
    # GIVEN a v1.0 app token of the partner tenant for the relay's App ID URI
    token = entra.token(roles=["Relay.Respond", "Something.Else"])
    # WHEN it is validated THEN the caller is the app, with the roles the token carries
    claims = entra.validator().validate(token)
    assert (claims.version, claims.app_id, claims.object_id) == ("1.0", SOAR_APP, SOAR_OID)
    assert claims.display_name == "SOAR EMEA"
    assert claims.roles == {"Relay.Respond", "Something.Else"}
    assert not claims.delegated


def test_a_v2_token_carries_the_api_client_id_as_audience_and_azp(entra: FakeEntra) -> None:
    claims = entra.validator().validate(entra.token(version="2.0", roles=["Relay.Read"]))
    assert (claims.version, claims.app_id, claims.roles) == ("2.0", SOAR_APP, frozenset({"Relay.Read"}))


def _hs256_with_public_key(entra: FakeEntra) -> str:
    # The classic confusion attack: the RSA public key (which anyone can fetch) used as an HMAC secret.
    public = entra.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header, claims = {"alg": "HS256", "typ": "JWT", "kid": entra.kid}, entra.claims(roles=["Relay.Admin"])
    unsigned = entra.unsigned(header, claims)
    signing_input = unsigned.rsplit(".", 1)[0].encode()
    return entra.unsigned(header, claims, hmac.new(public, signing_input, hashlib.sha256).digest())


REFUSALS: list[tuple[str, Any, str]] = [
    ("expired", lambda e: e.token(exp=int(time.time()) - 600), "expired"),
    ("not yet valid", lambda e: e.token(nbf=int(time.time()) + 600), "not valid yet"),
    ("wrong audience", lambda e: e.token(aud="https://api.securitycenter.microsoft.com"), "audience"),
    ("v2 token with the App ID URI audience", lambda e: e.token(version="2.0", aud="api://other"), "audience"),
    ("wrong issuer", lambda e: e.token(iss="https://sts.windows.net/00000000-0000-0000-0000-000000000000/"), "issuer"),
    ("v2 issuer on a v1 token", lambda e: e.token(iss=f"https://login.microsoftonline.com/{PARTNER}/v2.0"), "issuer"),
    ("other tenant", lambda e: e.token(tid="00000000-0000-0000-0000-000000000001"), "partner tenant (tid)"),
    ("no tid", lambda e: e.token(tid=None), "tid"),
    ("no exp", lambda e: e.token(exp=None), "exp"),
    ("exp not a number", lambda e: e.token(exp="tomorrow"), "not a number of seconds"),
    ("unknown version", lambda e: e.token(ver="3.0"), "version"),
    ("no version", lambda e: e.token(ver=None), "version"),
    ("alg none", lambda e: e.unsigned({"alg": "none", "kid": e.kid}, e.claims(roles=["Relay.Admin"])), "algorithm"),
    ("HS256 with the public key", _hs256_with_public_key, "algorithm"),
    ("bad signature", lambda e: e.token(key=OTHER_KEY), "signature"),
    ("no kid", lambda e: e.unsigned({"alg": "RS256"}, e.claims()), "kid"),
    ("garbage", lambda e: "not.a-token", "not a JSON Web Token"),
    ("not JSON", lambda e: "eyJub3Q.eyJqc29u.c2ln", "not valid JSON"),
    ("oversized", lambda e: e.token(padding="x" * MAX_TOKEN_CHARS), "limit"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "make", "reason"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_each_bad_token_is_refused_with_its_reason(entra: FakeEntra, case: str, make: Any, reason: str) -> None:
    token = make(entra)
    with pytest.raises(CallerAuthenticationError) as refused:
        entra.validator().validate(token)
    assert reason in refused.value.message
    assert refused.value.token_presented
    assert token not in refused.value.message


def test_keys_are_fetched_once_and_reused(entra: FakeEntra) -> None:
    # GIVEN one validator (one per process) WHEN 20 tokens signed with a published key are validated
    validator, before = entra.validator(), entra.served["jwks"]
    for _ in range(20):
        validator.validate(entra.token(roles=["Relay.Read"]))
    # THEN the metadata and keys were fetched once
    assert entra.served["jwks"] - before == 1


def test_a_rollover_is_followed_with_one_fetch_and_unknown_kids_cannot_force_more() -> None:
    # GIVEN a validator that has the current keys, and a clock it refreshes against
    entra, now = FakeEntra(), [1000.0]
    keys = entra.signing_keys(monotonic=lambda: now[0])
    validator = TokenValidator(tenant_id=PARTNER, audiences=[APP_ID_URI, API_CLIENT_ID], keys=keys)
    validator.validate(entra.token())
    now[0] += 600  # the last fetch was ten minutes ago
    # WHEN Entra rolls its key over and the first token signed with the new key arrives
    entra.rotate()
    validator.validate(entra.token())
    validator.validate(entra.token())
    # THEN the keys were fetched once more, not once per request
    assert keys.fetches == 2
    # AND a token naming a kid nobody publishes, right after, is refused without another fetch
    with pytest.raises(CallerAuthenticationError, match="signing key"):
        validator.validate(entra.token(header={"kid": "made-up"}))
    assert keys.fetches == 2


def test_keys_older_than_a_day_are_fetched_again_and_kept_if_entra_is_down() -> None:
    entra, now = FakeEntra(), [0.0]
    keys = entra.signing_keys(monotonic=lambda: now[0])
    validator = TokenValidator(tenant_id=PARTNER, audiences=[APP_ID_URI], keys=keys)
    validator.validate(entra.token())
    now[0] += 25 * 3600
    entra.down = True
    # WHEN the daily refresh fails THEN the cached keys still serve (no outage because Entra blinked)
    assert validator.validate(entra.token()).app_id == SOAR_APP
    assert keys.fetches == 2


def test_no_keys_at_all_is_a_retryable_unavailability_not_a_refusal() -> None:
    entra = FakeEntra()
    entra.down = True
    with pytest.raises(SigningKeysUnavailableError):
        entra.validator().validate(entra.token())


def test_a_remembered_token_is_still_refused_once_it_expires(entra: FakeEntra) -> None:
    # GIVEN a validator whose clock we hold, and a token accepted once
    now = [time.time()]
    validator = TokenValidator(
        tenant_id=PARTNER, audiences=[APP_ID_URI], keys=entra.signing_keys(), clock=lambda: now[0]
    )
    token = entra.token(exp=int(now[0]) + 600)
    assert validator.validate(token).app_id == SOAR_APP
    # WHEN it is presented again within its lifetime THEN it is accepted (from the validator's memory)
    assert validator.validate(token).app_id == SOAR_APP
    # AND once its exp (plus the skew allowed) has passed, it is refused like any expired token
    now[0] += 600 + 121
    with pytest.raises(CallerAuthenticationError, match="expired"):
        validator.validate(token)
