"""The SDK's HTTP log, kept quiet in every process that builds clients."""

from __future__ import annotations

import logging
from typing import Final

SDK_HTTP_LOGGER: Final = "azure.core.pipeline.policies.http_logging_policy"


def quiet_sdk_http_log() -> None:
    """Keep azure-core's per-request INFO records (URL and headers of every storage call) out of the logs.

    The Python worker sets the root logger to INFO and ships every record to the host over gRPC
    (``PYTHON_ENABLE_DEBUG_LOGGING`` makes it DEBUG), and host.json lets ``Function`` categories through
    at Information: without this, each audit insert costs two formatted multi-line records in App
    Insights and about 0.5 ms of CPU. Left alone when someone set the level themselves or debug logging
    is on; warnings and errors from the policy still pass.
    """
    sdk = logging.getLogger(SDK_HTTP_LOGGER)
    if sdk.level == logging.NOTSET and logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        sdk.setLevel(logging.WARNING)
