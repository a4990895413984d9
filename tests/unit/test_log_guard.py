"""The session-wide log guard finds what it is there to find (so its silence over the suite means something)."""

from __future__ import annotations

import logging

from tests.log_guard import LogGuard, find_leaks, secrets_of

TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL2FwaSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"


def test_a_token_or_a_secret_in_a_record_is_reported_without_repeating_it() -> None:
    # GIVEN a guard on a logger, and records holding a token, a secret in an exception, and nothing
    guard = LogGuard()
    guard.secrets = {"s3cr3t-value-0123456789"}
    logger = logging.getLogger("defender_relay.test_guard")
    logger.addHandler(guard)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False  # these leaks are on purpose: keep them from the session-wide guard
    try:
        logger.info("calling with Authorization: Bearer %s", TOKEN)
        try:
            raise ValueError("client_secret=s3cr3t-value-0123456789 was refused")
        except ValueError:
            logger.exception("token request failed")
        logger.info("tenant %s: 3 alerts delivered", "contoso")
    finally:
        logger.removeHandler(guard)
        logger.propagate = True
    # WHEN the guard is asked THEN it names both leaks, and its report does not contain them
    leaks = guard.leaks()
    assert len(leaks) == 2
    assert all(TOKEN not in leak and "s3cr3t-value-0123456789" not in leak for leak in leaks)
    assert "JWT" in leaks[0]
    assert "secret" in leaks[1]


def test_secrets_are_read_from_the_emulator_description() -> None:
    data = {
        "apps": {"commercial": {"client_secret": "abcdefghijklmnop", "expired_client_secret": "zyxwvutsrqponmlk"}},
        "key_vault": {"secrets": {"webhook-signing-secret": "whsec-0123456789abcdef", "short": "abc"}},
    }
    assert secrets_of(data) == {"abcdefghijklmnop", "zyxwvutsrqponmlk", "whsec-0123456789abcdef"}
    assert list(find_leaks([("x", "nothing to see")], secrets_of(data))) == []
