"""HMAC request signatures: good, bad, replayed, stale, missing, rotated secrets."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from shared.domain.errors import SignatureError
from shared.http.signing import SignatureVerifier, sign
from tests.fakes.actions import MemoryReplayGuard

SECRET = b"unit-test-signing-secret"
NOW = 1_767_225_600
PATH = "/api/tenants/11111111-1111-1111-1111-111111111111/machines/web01/isolate?wait=true"
BODY = b'{"comment":"alert 1"}'


def verifier(*secrets: bytes) -> SignatureVerifier:
    return SignatureVerifier(secrets=secrets or (SECRET,), replay_guard=MemoryReplayGuard(), clock=lambda: NOW)


def headers(ts: int = NOW, *, secret: bytes = SECRET, body: bytes = BODY, path: str = PATH) -> dict[str, str]:
    return {"x-relay-timestamp": str(ts), "x-relay-signature": sign(secret, "POST", path, str(ts), body)}


def test_a_fresh_correct_signature_is_accepted() -> None:
    verifier().verify("POST", PATH, headers(), BODY)


def test_a_signature_is_accepted_once_only() -> None:
    v, h = verifier(), headers()
    v.verify("POST", PATH, h, BODY)
    with pytest.raises(SignatureError, match="already used"):
        v.verify("POST", PATH, h, BODY)


@pytest.mark.parametrize("offset", [-301, 301, -10_000])
def test_a_timestamp_outside_five_minutes_is_stale(offset: int) -> None:
    with pytest.raises(SignatureError, match="away from the server clock"):
        verifier().verify("POST", PATH, headers(NOW + offset), BODY)


def test_a_timestamp_at_the_edge_of_the_window_is_accepted() -> None:
    verifier().verify("POST", PATH, headers(NOW - 300), BODY)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [("GET", PATH, BODY), ("POST", PATH.replace("wait=true", "wait=false"), BODY), ("POST", PATH, b'{"comment":"2"}')],
)
def test_any_change_to_method_path_or_body_breaks_the_signature(method: str, path: str, body: bytes) -> None:
    with pytest.raises(SignatureError, match="does not match"):
        verifier().verify(method, path, headers(), body)


def test_wrong_secret_missing_headers_and_bad_format_are_refused_with_reasons() -> None:
    with pytest.raises(SignatureError, match="does not match"):
        verifier().verify("POST", PATH, headers(secret=b"other"), BODY)
    with pytest.raises(SignatureError, match="X-Relay-Signature is missing"):
        verifier().verify("POST", PATH, {"x-relay-timestamp": str(NOW)}, BODY)
    with pytest.raises(SignatureError, match="X-Relay-Timestamp is missing"):
        verifier().verify("POST", PATH, {"x-relay-signature": "v1=" + "0" * 64}, BODY)
    with pytest.raises(SignatureError, match="64 hex digits"):
        verifier().verify("POST", PATH, {**headers(), "x-relay-signature": "sha256=abc"}, BODY)
    with pytest.raises(SignatureError, match="Unix seconds"):
        verifier().verify("POST", PATH, {**headers(), "x-relay-timestamp": "yesterday"}, BODY)


def test_either_of_two_secrets_verifies_during_rotation() -> None:
    v = verifier(b"old-secret", b"new-secret")
    v.verify("POST", PATH, headers(secret=b"new-secret"), BODY)
    v.verify("POST", PATH, headers(NOW - 1, secret=b"old-secret"), BODY)


def test_error_messages_never_contain_the_secret_or_the_expected_signature() -> None:
    h = headers(secret=b"other")
    with pytest.raises(SignatureError) as caught:
        verifier().verify("POST", PATH, h, BODY)
    expected = sign(SECRET, "POST", PATH, str(NOW), BODY)
    assert SECRET.decode() not in str(caught.value)
    assert expected[3:] not in str(caught.value)


def _nonce_headers(nonce: str, ts: int = NOW) -> dict[str, str]:
    """Signed as the SOAR guide says: the nonce is one more line of the canonical string, before the body."""
    canonical = b"\n".join([b"v1", b"POST", PATH.encode(), str(ts).encode(), nonce.encode(), BODY])
    digest = hmac.new(SECRET, canonical, hashlib.sha256).hexdigest()
    return {"x-relay-timestamp": str(ts), "x-relay-nonce": nonce, "x-relay-signature": "v1=" + digest}


def test_two_identical_requests_in_one_second_are_both_accepted_with_different_nonces() -> None:
    # GIVEN a SOAR tool that retries an identical request within the same second
    v = verifier()
    # WHEN each attempt carries its own X-Relay-Nonce THEN both are accepted
    v.verify("POST", PATH, _nonce_headers("3f9a1c0e4b7d4e21"), BODY)
    v.verify("POST", PATH, _nonce_headers("8b2d5c8e1f3a6b9d"), BODY)
    # AND the same nonce again is still a replay
    with pytest.raises(SignatureError, match="already used"):
        v.verify("POST", PATH, _nonce_headers("8b2d5c8e1f3a6b9d"), BODY)
    # AND a request without a nonce is verified as before (older clients keep working)
    v.verify("POST", PATH, headers(), BODY)


def test_the_nonce_is_signed_and_must_be_short_and_plain() -> None:
    signed = _nonce_headers("3f9a1c0e4b7d4e21")
    with pytest.raises(SignatureError, match="does not match"):
        verifier().verify("POST", PATH, {**signed, "x-relay-nonce": "another-nonce"}, BODY)
    with pytest.raises(SignatureError, match="does not match"):  # dropping the nonce changes the canonical string
        verifier().verify("POST", PATH, {k: v for k, v in signed.items() if k != "x-relay-nonce"}, BODY)
    for bad in ("", "a b", "x" * 129, "line\nbreak", "é"):
        with pytest.raises(SignatureError, match="X-Relay-Nonce"):
            verifier().verify("POST", PATH, {**signed, "x-relay-nonce": bad}, BODY)
