"""azure-core's per-request HTTP records stay out of a Functions worker's logs; ours and the SDK's warnings stay in."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from shared.bootstrap import SDK_HTTP_LOGGER, quiet_sdk_http_log


@pytest.fixture
def loggers() -> Iterator[tuple[logging.Logger, logging.Logger]]:
    root, sdk = logging.getLogger(), logging.getLogger(SDK_HTTP_LOGGER)
    saved = root.level, sdk.level
    yield root, sdk
    root.setLevel(saved[0])
    sdk.setLevel(saved[1])


def test_at_the_workers_info_level_sdk_requests_are_not_logged_but_ours_and_sdk_warnings_are(
    loggers: tuple[logging.Logger, logging.Logger],
) -> None:
    # GIVEN the root logger at INFO, as the Python worker sets it, and nobody configured the SDK logger
    root, sdk = loggers
    root.setLevel(logging.INFO)
    sdk.setLevel(logging.NOTSET)
    # WHEN the HTTP API quiets the SDK
    quiet_sdk_http_log()
    # THEN "Request URL: ..." INFO records are dropped, warnings pass, and our request line still logs
    assert not sdk.isEnabledFor(logging.INFO)
    assert sdk.isEnabledFor(logging.WARNING)
    assert logging.getLogger("defender_relay.http").isEnabledFor(logging.INFO)


def test_debug_logging_or_an_explicit_sdk_level_is_left_alone(loggers: tuple[logging.Logger, logging.Logger]) -> None:
    root, sdk = loggers
    # GIVEN PYTHON_ENABLE_DEBUG_LOGGING (root at DEBUG): someone is diagnosing, the SDK records stay
    root.setLevel(logging.DEBUG)
    sdk.setLevel(logging.NOTSET)
    quiet_sdk_http_log()
    assert sdk.isEnabledFor(logging.INFO)
    # GIVEN an operator who asked for the SDK's HTTP records at INFO: still theirs
    root.setLevel(logging.INFO)
    sdk.setLevel(logging.INFO)
    quiet_sdk_http_log()
    assert sdk.isEnabledFor(logging.INFO)
