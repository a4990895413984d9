"""Keys inside URLs are masked in log text and messages; everything else a reader needs is kept."""

from __future__ import annotations

import logging

import pytest

from shared.platform.redaction import RedactingFilter, redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('http://127.0.0.1:80 "POST /hook?code=abc==&clientId=default HTTP/1.1" 204 0',
         'http://127.0.0.1:80 "POST /hook?code=***&clientId=*** HTTP/1.1" 204 0'),
        ("'https://acct.blob.core.windows.net/c?sv=2022&sig=Zm9v%2Bbar' must be an https:// URL",
         "'https://acct.blob.core.windows.net/c?sv=***&sig=***' must be an https:// URL"),
        ("ftp://relay:p4ss@hooks.example/ingest", "ftp://***@hooks.example/ingest"),
        ("Starting new HTTPS connection (1): hooks.example:443",) * 2,
        ("ingest tenant=t1 feed=mde-alerts status=ok", "ingest tenant=t1 feed=mde-alerts status=ok"),
    ],
)  # fmt: skip
def test_query_values_and_userinfo_are_masked_and_the_rest_is_kept(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_the_filter_rewrites_a_record_with_arguments_and_keeps_every_record() -> None:
    args = ("POST", "/h?k=v")
    record = logging.LogRecord("urllib3.connectionpool", logging.DEBUG, __file__, 1, '"%s %s"', args, None)
    assert RedactingFilter().filter(record) is True
    assert record.getMessage() == '"POST /h?k=***"'
