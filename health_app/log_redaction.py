"""Secrets that can travel in an address never reach a log line.

Microsoft's callback carries an authorization code and state in its query string, our
email links carry tokens, and Google's web services take the server key in the query; HTTP
servers and clients log every request line. A filter on the access
loggers (uvicorn's) rewrites those values before any handler sees
them.
"""

from __future__ import annotations

import logging
import re

_SECRET_PARAM = re.compile(
    r"((?:^|[?&\s\"'])(?:code|state|token|session_state|id_token|access_token|"
    r"refresh_token|client_secret|key)=)[^&\s\"']+",
    re.IGNORECASE,
)
# urllib3 logs each request line at DEBUG: Google's server key travels in the query.
LOGGERS = ("uvicorn.access", "uvicorn.error", "urllib3.connectionpool")


def redact(text: str) -> str:
    return _SECRET_PARAM.sub(r"\1[redacted]", text)


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def install() -> None:
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())
