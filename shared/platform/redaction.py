"""Keys inside configured URLs kept out of log lines and error messages.

A webhook URL often carries its credential in the query string (an Azure Function's ``?code=``, a SAS
``sig=``) or in its userinfo (``https://user:password@host``). ``redact`` replaces every query value
and every userinfo in a text with ``***`` and keeps the rest (scheme, host, path, parameter names), so a
message still says which URL it is about. ``install_log_redaction`` puts a filter doing this on the
loggers of the HTTP libraries: urllib3 logs each request line at DEBUG (``"POST /hook?code=… HTTP/1.1"
204``), which the Functions Python worker ships to App Insights when debug logging is on.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Final

_USERINFO: Final = re.compile(r"(?<=://)[^/?#@\s'\"]+@")
# A query value: after "?" or "&", up to the next separator; names and the separators are kept.
_QUERY_VALUE: Final = re.compile(r"([?&][^=&#?\s'\"]*=)[^&#\s'\"]*")
MASK: Final = "***"

# Loggers that write request URLs: urllib3 (request lines, retries, redirects) and azure-core's HTTP
# logging policy. A filter on a logger applies only to records created on that logger, so every one of
# them is named (getLogger creates the ones whose module is not imported yet).
LOGGERS: Final = (
    "urllib3",
    "urllib3.connectionpool",
    "urllib3.connection",
    "urllib3.poolmanager",
    "urllib3.response",
    "urllib3.util.retry",
    "azure.core.pipeline.policies.http_logging_policy",
)
_installed = threading.Lock()


def redact(text: str) -> str:
    """``text`` with every URL userinfo and every query value replaced by ``***``."""
    if "@" not in text and "=" not in text:
        return text  # the common case: nothing that could hold a key
    return _QUERY_VALUE.sub(rf"\g<1>{MASK}", _USERINFO.sub(f"{MASK}@", text))


class RedactingFilter(logging.Filter):
    """Rewrites a record whose message holds a query value or a userinfo; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # an unformattable record is logging's problem to report, not ours
            return True
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def install_log_redaction() -> None:
    """Put one ``RedactingFilter`` on each of ``LOGGERS`` (idempotent, thread-safe)."""
    with _installed:
        for name in LOGGERS:
            logger = logging.getLogger(name)
            if not any(isinstance(f, RedactingFilter) for f in logger.filters):
                logger.addFilter(RedactingFilter())
