"""host.json's queue settings say what docs/ingestion.md promises of a failed job (JSON holds no comments)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MSAL_DEFAULT_THROTTLE_SECONDS = 5  # msal/throttled_http_client.py: a 429/5xx without Retry-After is replayed 5 s


def _span(text: str) -> timedelta:
    hours, minutes, seconds = (int(part) for part in text.split(":"))
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)


def test_a_failed_job_is_retried_after_msal_stops_replaying_the_failure() -> None:
    # GIVEN the queue settings the Functions host reads
    queues = json.loads((ROOT / "host.json").read_text())["extensions"]["queues"]
    # THEN a failed job comes back after MSAL has forgotten an Entra ID 503 (else all five tries fail in its cache)
    retry = _span(queues["visibilityTimeout"])
    assert retry > timedelta(seconds=MSAL_DEFAULT_THROTTLE_SECONDS)
    # AND the five tries span more than two minutes (docs/ingestion.md "host.json queue settings")
    assert queues["maxDequeueCount"] == 5
    assert retry * (queues["maxDequeueCount"] - 1) >= timedelta(minutes=2)
    # AND the messages are base64, as the sweep writes them
    assert queues["messageEncoding"] == "base64"
