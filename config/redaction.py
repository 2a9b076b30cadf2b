"""Keep secrets that travel in URLs out of logs.

A TradersPost webhook URL carries its password (/trading/webhook/<uuid>/<password>) and the
UTM dialect allows ?apiKey=. Django logs the path of every 4xx ("Not Found: /trading/...")
and servers log request lines, so every log line passes through ``redact`` first.
"""

import logging
import re

_WEBHOOK_PASSWORD = re.compile(r"(/trading/webhook/[^/?\s\"']+/)[^/?\s\"']+")
_API_KEY_PARAM = re.compile(r"(apiKey=)[^&\s\"']+", re.IGNORECASE)
MASK = "***"


def redact(text: str) -> str:
    return _API_KEY_PARAM.sub(r"\g<1>" + MASK, _WEBHOOK_PASSWORD.sub(r"\g<1>" + MASK, text))


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed log call is not ours to fix here
            return True
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True
