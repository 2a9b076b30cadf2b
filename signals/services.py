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
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Case, F, PositiveSmallIntegerField, Q, TextField, Value, When
from django.db.models.functions import Concat
from django.utils import timezone

from config import compiled, safejson
from signals.models import RejectedAttempts, Signal

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
    """A JSON value PostgreSQL's JSON can store: every string (keys included) passed
    through clean_text, every number beyond float range kept as the text it was sent as
    (safejson.storable). Recursive: safejson bounds outside JSON's depth when it parses."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(str(k)): clean_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_json(v) for v in value]
    return safejson.storable(value)


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
    *,
    organization,
    dialect: str,
    status: str,
    raw_body: bytes = b"",
    retried: bool = False,
    **fields,
) -> Signal:
    """Write one signal log row (one INSERT) for a request that reached a known webhook or
    API key, accepted or rejected, and return it; its ``log_id`` goes in the answer.

    ``fields`` are Signal fields: webhook, api_key, strategy_id, account, source_ip,
    content_type, body_hash, payload, intent, ticker, action, message_code, message,
    duplicate_of_id, idempotency_key, id. Text is bounded and cleaned so no input can
    make the insert fail.

    ``retried``: a second try of the same request (its ``id`` chosen once per request),
    after a lost database session. The first try's INSERT may have committed with only
    its answer lost, so the row is looked up first and returned if it is there: one
    request, one row.
    """
    if retried and fields.get("id") is not None:
        landed = Signal.objects.filter(pk=fields["id"]).first()
        if landed is not None:
            return landed
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


def signal_accept(
    *, organization, dialect: str, raw_body: bytes = b"", retried: bool = False, **fields
) -> Signal:
    """Log an accepted signal (PENDING) and enqueue its processing once committed (again,
    harmlessly, when a retried request finds its first try's row)."""
    row = signal_log(
        organization=organization,
        dialect=dialect,
        status=Signal.Status.PENDING,
        raw_body=raw_body,
        retried=retried,
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


# Names the rows of RejectedAttempts: uuid5 of (webhook, code, minute).
_REJECTED_ATTEMPTS_NAMESPACE = uuid.UUID("6b0f5a36-3f4e-4c8e-9d2a-5d1c8f0e7a41")


def rejected_attempt_id(*, webhook_id, message_code: str, window_start) -> uuid.UUID:
    """The id of the row counting ``message_code`` answers of ``webhook_id`` in the minute
    starting at ``window_start``: known before the row exists, so every answer it counts
    carries it as its logId without reading it back."""
    name = f"{webhook_id}:{message_code}:{window_start:%Y-%m-%dT%H:%M}"
    return uuid.uuid5(_REJECTED_ATTEMPTS_NAMESPACE, name)


def rejected_attempt_count(
    *,
    webhook,
    message_code: str,
    source_ip: str | None,
    raw_body: bytes,
    content_type: str,
    at=None,
) -> RejectedAttempts:
    """Count one request to ``webhook`` that had no right password (answered
    ``message_code``) in its minute's RejectedAttempts row, and return the row (its id is
    the answer's logId). One UPDATE; the minute's first request INSERTs the row with the
    sample (its body, bounded, and address) instead. Storage per webhook, code and minute
    is bounded whatever the flood (docs/webhooks.md, "Failed attempts")."""
    at = at or timezone.now()
    window_start = at.replace(second=0, microsecond=0)
    pk = rejected_attempt_id(
        webhook_id=webhook.pk, message_code=message_code, window_start=window_start
    )
    row = RejectedAttempts(
        id=pk,
        organization_id=webhook.organization_id,
        webhook=webhook,
        message_code=clean_text(message_code)[: _CHAR_LIMITS["message_code"]],
        window_start=window_start,
        count=1,
        first_seen_at=at,
        last_seen_at=at,
        sample_ips=f" {source_ip} " if source_ip else " ",
        sample_ip_count=1 if source_ip else 0,
        sample_body=_sample(raw_body),
        sample_content_type=clean_text(content_type)[: _CHAR_LIMITS["content_type"]],
    )
    if _rejected_attempt_add(pk, source_ip=source_ip, at=at):
        return row
    try:
        with transaction.atomic():
            row.save(force_insert=True)
    except IntegrityError:  # another request of the same minute created it meanwhile
        _rejected_attempt_add(pk, source_ip=source_ip, at=at)
    return row


PURGE_BATCH = 5000


def rejected_attempts_purge(*, now=None, days: int | None = None) -> int:
    """Delete counted rejected attempts older than the retention, in batches (a long
    attack leaves many minutes; one big DELETE would hold its locks for long)."""
    days = settings.REJECTED_ATTEMPTS_RETENTION_DAYS if days is None else days
    cutoff = (now or timezone.now()) - timedelta(days=days)
    deleted = 0
    while True:
        batch = list(
            RejectedAttempts.objects.filter(window_start__lt=cutoff).values_list("pk", flat=True)[
                :PURGE_BATCH
            ]
        )
        if not batch:
            return deleted
        deleted += RejectedAttempts.objects.filter(pk__in=batch).delete()[0]


def _sample(raw_body: bytes) -> str:
    limit = RejectedAttempts.SAMPLE_BODY_MAX_CHARS
    return clean_text(raw_body[: limit * 4].decode("utf-8", "replace"))[:limit]


def _rejected_attempt_add(pk: uuid.UUID, *, source_ip: str | None, at) -> bool:
    """One more attempt on an existing row, in one UPDATE so concurrent requests lose no
    count: the address joins the sample while it has room and is not in it yet."""
    updates = {"count": F("count") + 1, "last_seen_at": at}
    if source_ip:
        new_ip = Q(sample_ip_count__lt=RejectedAttempts.SAMPLE_IPS_MAX) & ~Q(
            sample_ips__contains=f" {source_ip} "
        )
        appended = Concat(F("sample_ips"), Value(f"{source_ip} "), output_field=TextField())
        updates["sample_ips"] = Case(When(new_ip, then=appended), default=F("sample_ips"))
        updates["sample_ip_count"] = Case(
            When(new_ip, then=F("sample_ip_count") + 1),
            default=F("sample_ip_count"),
            output_field=PositiveSmallIntegerField(),
        )
    return RejectedAttempts.objects.filter(pk=pk).update(**updates) == 1


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
