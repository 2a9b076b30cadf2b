"""Dialect-independent ingestion: the signal log row, duplicate detection, and enqueueing
an accepted signal after commit. Both dialects (TradersPost webhooks, UTM API) call these.

Typical use by an ingestion view, after its own checks:

    digest = body_digest(raw)
    first_id = signal_duplicate_claim(scope=str(webhook.id), body_hash=digest,
                                      window_seconds=webhook.duplicate_window_seconds,
                                      signal_id=new_id)
    if first_id: signal_log(..., status=DUPLICATE, duplicate_of_id=first_id)
    else:        signal_accept(..., id=new_id)   # PENDING + process_signal after commit
"""

import hashlib
import logging
import uuid
from typing import Any

from django.core.cache import cache
from django.db import IntegrityError, transaction

from config import compiled
from signals.models import Signal

logger = logging.getLogger(__name__)

# Bounds of what one log row keeps of a request (the ingress bounds the body itself).
RAW_BODY_MAX_CHARS = 64 * 1024
_CHAR_LIMITS = {"ticker": 40, "action": 20, "content_type": 200, "message_code": 64}


def body_digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def clean_text(value: str) -> str:
    """Text PostgreSQL can store: no NUL characters, no lone surrogates (both are legal in
    a JSON string and would otherwise turn a bad request into a 500)."""
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value


def clean_json(value: Any) -> Any:
    """A JSON value with every string (keys included) passed through clean_text."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(str(k)): clean_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_json(v) for v in value]
    return value


def _bounded(fields: dict) -> dict:
    for name, limit in _CHAR_LIMITS.items():
        if isinstance(fields.get(name), str):
            fields[name] = clean_text(fields[name])[:limit]
    for name in ("payload", "intent"):
        if fields.get(name) is not None:
            fields[name] = clean_json(fields[name])
    if fields.get("message"):
        fields["message"] = clean_text(fields["message"])
    return fields


def signal_log(
    *, organization, dialect: str, status: str, raw_body: bytes = b"", **fields
) -> Signal:
    """Write one signal log row (one INSERT) for a request that reached a known webhook or
    API key, accepted or rejected, and return it; its ``log_id`` goes in the answer.

    ``fields`` are Signal fields: webhook, api_key, strategy_id, account, source_ip,
    content_type, body_hash, payload, intent, ticker, action, message_code, message,
    duplicate_of_id, idempotency_key, id. Text is bounded and cleaned so no input can
    make the insert fail.
    """
    text = clean_text(raw_body[:RAW_BODY_MAX_CHARS].decode("utf-8", "replace"))
    row = Signal(
        organization=organization,
        dialect=dialect,
        status=status,
        raw_body=text,
        **_bounded(dict(fields)),
    )
    if row.duplicate_of_id is not None:
        try:
            with transaction.atomic():
                _insert(row)
            return row
        except IntegrityError:
            # The first signal's row never landed (its request failed after claiming the
            # body): log this one without the link rather than fail it.
            row.duplicate_of_id = None
    _insert(row)
    return row


def _insert(row: Signal) -> None:
    """The log row's INSERT, built once per process and prepared once per connection
    (config.compiled): every webhook request writes exactly one, and the ORM compiled it
    anew each time (about half of the 0.35 ms of CPU one row took). Values still go
    through each field's pre_save and get_db_prep_save, as in Model.save."""
    compiled.insert(row)


def signal_accept(*, organization, dialect: str, raw_body: bytes = b"", **fields) -> Signal:
    """Log an accepted signal (PENDING) and enqueue its processing once committed."""
    row = signal_log(
        organization=organization,
        dialect=dialect,
        status=Signal.Status.PENDING,
        raw_body=raw_body,
        **fields,
    )
    signal_enqueue(signal_id=row.id)
    return row


def signal_enqueue(*, signal_id: uuid.UUID) -> None:
    """Publish signals.process_signal after the current transaction commits (at once in
    autocommit). A failed publish (Redis down) is logged and swallowed: the signal stays
    PENDING in the database and the periodic sweep re-enqueues it, so the sender still
    gets its 200 and "accepted" still means "will be processed"."""
    transaction.on_commit(lambda: _publish(str(signal_id)))


def _publish(signal_id: str) -> None:
    from signals.queue import process_signal_publish  # the Celery app imports tasks

    try:
        process_signal_publish(signal_id)
    except Exception as exc:  # any broker/transport failure: the sweep will retry
        logger.error(
            "could not enqueue signal %s (%s); left PENDING for the sweep",
            signal_id,
            exc.__class__.__name__,
        )


def duplicate_key(scope: str, body_hash: str) -> str:
    return f"signal-dup:{scope}:{body_hash}"


def signal_duplicate_claim(
    *, scope: str, body_hash: str, window_seconds: int, signal_id: uuid.UUID
) -> uuid.UUID | None:
    """Claim ``body_hash`` for ``window_seconds`` within ``scope`` (e.g. a webhook id) for
    the signal about to be accepted as ``signal_id``.

    Returns None when this request is the first (it now owns the window), or the id of the
    signal that already owns it (this request is a duplicate). The claim is one atomic
    cache add (Redis SET NX), so two identical requests arriving together cannot both be
    accepted. Window 0 turns detection off. If the cache is unreachable the request is
    treated as first: losing duplicate protection beats refusing signals.
    """
    if window_seconds <= 0:
        return None
    key = duplicate_key(scope, body_hash)
    try:
        if cache.add(key, str(signal_id), timeout=window_seconds):
            return None
        first = cache.get(key)
    except Exception:
        logger.warning("duplicate check unavailable; accepting the signal")
        return None
    try:
        return uuid.UUID(str(first))
    except ValueError:
        return None  # expired between add and get: this request is the first after all


def signal_duplicate_release(*, scope: str, body_hash: str, signal_id: uuid.UUID) -> None:
    """Give a claim back when the signal that made it was not accepted after all."""
    key = duplicate_key(scope, body_hash)
    try:
        if cache.get(key) == str(signal_id):
            cache.delete(key)
    except Exception:
        logger.warning("could not release a duplicate claim")
