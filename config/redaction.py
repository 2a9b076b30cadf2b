"""Keep secrets out of every log line this project's processes write.

A TradersPost webhook URL carries its password (/trading/webhook/<uuid>/<password>), the
UTM dialect allows ?apiKey=, and API keys travel in X-API-Key. Request paths reach logs
from many writers: gunicorn's access log ("%(r)s", the Referer), its error log ("Invalid
request from ip=...: Invalid HTTP request line: '...'", "Error handling request POST
/trading/..."), Django ("Not Found: ...", "Bad Request: ..."), Celery, tracebacks. And a
client may spell a path any way it likes: %2F or %252F for a slash, doubled slashes,
mixed-case hex, encoded letters, a backslash.

So redaction does not sit on any one handler or format: ``install()`` makes the process's
LogRecord factory redact each record as it is created (its message, traceback and stack),
before any filter, handler or formatter of any logger sees it. config/__init__.py installs
it, so every process that imports the project (gunicorn master and workers, manage.py,
Celery worker and beat) does.

``redact`` looks at each whitespace-separated token: a token that could hide a secret is
percent-decoded until it stops changing, its slashes (and backslashes) collapsed, and then
- everything after webhook/<uuid> (or after webhook/ when no uuid follows) is masked,
  whatever separated the two and however "trading" before it was spelled;
- a token still percent-encoded after 8 rounds of decoding is masked whole;
- the value of any apiKey / api_key / api-key parameter is masked;
- anything shaped like one of our API keys (tr_<8 hex>_<secret>) keeps only its public
  prefix.
Such a token is written decoded and normalized (the encoding a client chose is not worth a
secret). ``X-API-Key: <value>`` and ``'X-Api-Key': '<value>'`` lose their value too.
"""

import logging
import re
from urllib.parse import unquote

MASK = "***"

_TOKEN = re.compile(r"\S+")
# Runs of slashes and backslashes become one slash, except the "//" of a "scheme://".
_SLASHES = re.compile(r"(?<!:)[/\\]+|[/\\]{3,}|\\")
# Only the dashed form we print: 32 bare hex digits could as well be a password.
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
# After "webhook/" (whatever precedes it: a client may spell "trading" any way): an
# optional uuid (kept), then the rest of the path (masked) up to a query, a fragment, or
# a closing quote of the log format. The REST API's /webhooks/ paths do not match.
_WEBHOOK = re.compile(rf"(webhook/)({_UUID})?([^?#\"]*)", re.IGNORECASE)
_API_KEY_PARAM = re.compile(r"(api[-_]?key=)[^&;#\"]+", re.IGNORECASE)
_API_KEY_VALUE = re.compile(r"\b(tr_[0-9a-f]{8}_)[A-Za-z0-9_-]+")
_API_KEY_HEADER = re.compile(r"(x[-_]api[-_]key\W{1,4})[^\s'\",;}]+", re.IGNORECASE)
_MAX_DECODES = 8  # %25 nested this deep is an attack on the log, not a URL


def _might_hide_a_secret(text: str) -> bool:
    # Plain substring tests first: almost no log line (and no IP, date or status token of
    # one) needs the work below. An encoded "webhook" or "apiKey" has a "%" in it.
    low = text.lower()
    return "webhook" in low or "key" in low or "tr_" in low or "%" in text or "\\" in text


def redact(text: str) -> str:
    if not _might_hide_a_secret(text):
        return text
    redacted = _TOKEN.sub(_redact_token, text)
    if "key" in redacted.lower():
        redacted = _API_KEY_HEADER.sub(r"\g<1>" + MASK, redacted)
    return redacted


def _redact_token(match: re.Match) -> str:
    token = match.group()
    if not _might_hide_a_secret(token):
        return token
    normalized = _decode(token)
    if normalized is None:
        return MASK
    if "//" in normalized or "\\" in normalized:
        normalized = _SLASHES.sub("/", normalized)
    low = normalized.lower()
    redacted = normalized
    if "webhook/" in low:
        redacted = _WEBHOOK.sub(_mask_webhook, redacted)
    if "key" in low:
        redacted = _API_KEY_PARAM.sub(r"\g<1>" + MASK, redacted)
    if "tr_" in low:
        redacted = _API_KEY_VALUE.sub(r"\g<1>" + MASK, redacted)
    return token if redacted == normalized else redacted


def _decode(token: str) -> str | None:
    """``token`` percent-decoded until it stops changing; None (mask it whole) if it is
    still encoded after _MAX_DECODES rounds."""
    for _ in range(_MAX_DECODES):
        decoded = unquote(token, errors="replace")
        if decoded == token:
            return token
        token = decoded
    return None


def _mask_webhook(match: re.Match) -> str:
    prefix, webhook_id, rest = match.group(1), match.group(2) or "", match.group(3)
    if rest in ("", "/"):  # no password in this path
        return match.group()
    return f"{prefix}{webhook_id}/{MASK}" if webhook_id else f"{prefix}{MASK}"


def _redact_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a malformed log call: the handler reports it, unformatted
        return
    redacted = redact(message)
    if redacted != message:
        record.msg, record.args = redacted, None
    if record.exc_info and record.exc_info[0] is not None:
        # Formatters reuse exc_text when it is set, so the traceback is written redacted.
        traceback = logging.Formatter().formatException(record.exc_info)
        if (clean := redact(traceback)) != traceback:
            record.exc_text = clean
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


def install() -> None:
    """Redact every LogRecord this process creates, from any logger (idempotent)."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "redacts_secrets", False):
        return

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        _redact_record(record)
        return record

    factory.redacts_secrets = True
    logging.setLogRecordFactory(factory)
