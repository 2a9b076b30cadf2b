"""The UTM dialect's ingestion flow (POST /api/v1/signals/ingest): authenticate the key,
run the checks in their fixed order, write the one log row, accept and enqueue, or answer
with the first answer of an idempotency key. Every failure is a UtmError, which the view
turns into UTM's envelope.

Order: key, body size, organization, scope, rate, JSON, idempotent repeat, fields,
account, mode, strategy. Every request with a valid key is one log row.

A transient database fault anywhere in it runs the whole admission once more on a new
session (signals.faults.retried_once), with the same log row id, so a first try whose
INSERT landed is found rather than logged twice; a second fault is a 503
SERVICE_UNAVAILABLE with Retry-After.
"""

import uuid
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, transaction

from accounts.auth import api_key_from_request
from accounts.models import ApiKey
from accounts.services import api_key_authenticate
from brokers.models import BrokerAccount
from config.safejson import check_text
from signals.faults import Unavailable, retried_once
from signals.models import Signal
from signals.services import body_digest, signal_accept, signal_enqueue, signal_log
from strategies.models import Strategy
from webhooks import utm_errors as E
from webhooks.ingress import (
    BodyTooLarge,
    BodyUnreadable,
    EmptyBody,
    JsonRejected,
    MalformedJson,
    client_ip,
    decode_json,
    rate_limit_retry_after,
    read_body,
)
from webhooks.utm import CLIENT_ID_MAX, UtmSignal, UtmValidationError, utm_parse

IDEMPOTENCY_HEADER = "HTTP_IDEMPOTENCY_KEY"


@dataclass
class Ingest:
    """What one ingest request has established so far, for its log row."""

    key: ApiKey
    source_ip: str | None
    content_type: str
    raw: bytes = b""
    body: object = None
    read_error: E.UtmError | None = None  # the body, read once per request
    # The log row's id, once per request, and whether this is the retry of the admission.
    signal_id: uuid.UUID = field(default_factory=uuid.uuid4)
    retried: bool = False

    def log(self, *, status: str, **fields) -> Signal:
        return signal_log(status=status, retried=self.retried, **self._row(fields))

    def accept(self, **fields) -> Signal:
        return signal_accept(retried=self.retried, **self._row(fields))

    def _row(self, fields: dict) -> dict:
        body = self.body if isinstance(self.body, dict) else {}
        row = {
            "id": self.signal_id,
            "organization": self.key.organization,
            "dialect": Signal.Dialect.UTM,
            "raw_body": self.raw,
            "api_key": self.key,
            "source_ip": self.source_ip,
            "content_type": self.content_type,
            "body_hash": body_digest(self.raw),
            "ticker": _text(body.get("symbol")),
            "action": _text(body.get("action")),
        }
        return {**row, **fields}


def _text(value) -> str:
    return value if isinstance(value, str) else ""


def _authenticate(request) -> ApiKey:
    raw = api_key_from_request(request)
    if not raw:
        raise E.invalid_key("API key is missing")
    key = api_key_authenticate(raw=raw)
    if key is None:
        raise E.invalid_key("API key is invalid or revoked")
    return key


def _check_key(request, key: ApiKey) -> None:
    organization = key.organization
    if not organization.is_active:
        raise E.UtmError(E.ORGANIZATION_SUSPENDED, 403, "Organization is suspended")
    if not key.has_scope(ApiKey.Scope.SIGNALS_WRITE):
        raise E.invalid_key("API key lacks the signals:write scope", status=403)
    per_minute = organization.api_rate_per_minute or settings.API_KEY_RATE_PER_MINUTE
    # A retried admission (signals.faults.retried_once) is the same request: it is counted
    # on its first try only, or a lost session would cost the trader a later signal.
    if not hasattr(request, "utm_rate_wait"):
        request.utm_rate_wait = rate_limit_retry_after(
            request, group="utm-api-key", key=str(key.pk), rate=f"{per_minute}/m"
        )
    wait = request.utm_rate_wait
    if wait is not None:
        raise E.UtmError(E.RATE_LIMIT_EXCEEDED, 429, "Too many requests", retry_after=wait)


def _read(request) -> tuple[bytes, E.UtmError | None]:
    """The raw body, or the error it is answered with (at its place in the order)."""
    try:
        return read_body(request, max_bytes=settings.WEBHOOK_MAX_BODY_BYTES), None
    except BodyTooLarge:
        limit = settings.WEBHOOK_MAX_BODY_BYTES
        detail = [{"field": "body", "message": f"Body over {limit} bytes"}]
    except BodyUnreadable:
        detail = [{"field": "body", "message": "Body could not be read (broken chunked encoding)"}]
    return b"", E.validation_error(detail)


def _decode(ingest: Ingest) -> None:
    try:
        ingest.body = decode_json(ingest.raw)
    except EmptyBody:
        raise E.validation_error([{"field": "body", "message": "Body is empty"}])
    except MalformedJson:
        raise E.validation_error([{"field": "body", "message": "Body is not valid JSON"}])
    except JsonRejected as refused:  # too deep, or text PostgreSQL cannot store
        raise E.validation_error([{"field": refused.path or "body", "message": refused.message}])


def _idempotency_key(request, body) -> str | None:
    """The Idempotency-Key header, else the body's clientSignalId (senders that cannot set
    headers); None when neither is usable (a bad clientSignalId is reported by the parser)."""
    header = request.META.get(IDEMPOTENCY_HEADER)
    if header is not None:
        try:  # production servers refuse NUL in headers; other callers may not
            check_text(header, path="Idempotency-Key")
        except JsonRejected as refused:
            raise E.validation_error([{"field": refused.path, "message": refused.message}])
        header = header.strip()
        if not header or len(header) > CLIENT_ID_MAX:
            message = f"Idempotency-Key must be 1-{CLIENT_ID_MAX} characters"
            raise E.validation_error([{"field": "Idempotency-Key", "message": message}])
        return header
    value = body.get("clientSignalId") if isinstance(body, dict) else None
    if isinstance(value, str) and value.strip() and len(value) <= CLIENT_ID_MAX:
        return value.strip()
    return None


def _account(organization, account_id: str) -> BrokerAccount:
    try:
        pk = uuid.UUID(account_id)
    except ValueError:
        pk = None
    account = BrokerAccount.objects.for_org(organization).filter(pk=pk).first() if pk else None
    if account is None:
        detail = [{"field": "accountId", "message": "No account with this id"}]
        raise E.UtmError(E.ACCOUNT_NOT_FOUND, 404, "Target account doesn't exist", detail)
    return account


def _check_mode(key: ApiKey, account: BrokerAccount) -> None:
    if key.mode != account.mode:
        message = f"A {key.mode} API key cannot send signals to a {account.mode} account"
        detail = [{"field": "accountId", "message": message}]
        raise E.UtmError(E.MODE_MISMATCH, 409, "Trading mode doesn't match account type", detail)


def _strategy(organization, strategy_id: str | None) -> Strategy | None:
    if strategy_id is None:
        return None
    try:
        strategy = Strategy.objects.for_org(organization).filter(pk=uuid.UUID(strategy_id)).first()
    except ValueError:
        strategy = None
    if strategy is None:
        raise E.validation_error([{"field": "strategyId", "message": "No strategy with this id"}])
    return strategy


def _first_with_key(ingest: Ingest, idempotency_key: str) -> Signal | None:
    return Signal.objects.filter(
        organization=ingest.key.organization,
        api_key=ingest.key,
        idempotency_key=idempotency_key,
    ).first()


def _replay(ingest: Ingest, first: Signal):
    """A repeat of an idempotency key gets the first answer, byte for byte, and its own log
    row marked as a duplicate; it never reaches the pipeline."""
    ingest.log(
        status=Signal.Status.DUPLICATE,
        duplicate_of_id=first.id,
        message_code="IDEMPOTENT_REPLAY",
        message="Repeat of an idempotency key: answered with the first signal",
    )
    answer = E.accepted_response(signal_id=first.id, log_id=first.log_id)
    answer["Idempotent-Replayed"] = "true"
    return answer


def _accept(ingest: Ingest, parsed: UtmSignal, account, strategy, idempotency_key):
    try:
        # A savepoint: when two repeats race, the loser's INSERT fails on the unique
        # (organization, api_key, idempotency_key) constraint and it answers as a replay.
        with transaction.atomic():
            signal = ingest.accept(
                account=account,
                strategy=strategy,
                payload=parsed.payload,
                intent=parsed.intent.to_json(),
                ticker=parsed.intent.ticker,
                action=parsed.payload["action"],
                idempotency_key=idempotency_key,
            )
    except IntegrityError:
        first = _first_with_key(ingest, idempotency_key) if idempotency_key else None
        if first is None:
            raise
        return _replay(ingest, first)
    return E.accepted_response(signal_id=signal.id, log_id=signal.log_id)


def _ingest_checked(request, ingest: Ingest):
    organization = ingest.key.organization
    if ingest.read_error is not None:
        raise ingest.read_error
    _check_key(request, ingest.key)
    _decode(ingest)
    idempotency_key = _idempotency_key(request, ingest.body)
    if idempotency_key and (first := _first_with_key(ingest, idempotency_key)):
        if first.id == ingest.signal_id:  # this request's first try landed its row
            signal_enqueue(signal_id=first.id)
            return E.accepted_response(signal_id=first.id, log_id=first.log_id)
        return _replay(ingest, first)
    try:
        parsed = utm_parse(ingest.body)
    except UtmValidationError as err:
        raise E.validation_error(err.details)
    account = _account(organization, parsed.account_id)
    _check_mode(ingest.key, account)
    strategy = _strategy(organization, parsed.strategy_id)
    return _accept(ingest, parsed, account, strategy, idempotency_key)


def utm_ingest(request):
    raw, read_error = _read(request)  # once: a retry cannot read the stream again
    signal_id = uuid.uuid4()

    def admission(retried: bool):
        key = _authenticate(request)  # no valid key, no tenant: nothing to log against
        ingest = Ingest(key, client_ip(request), request.META.get("CONTENT_TYPE", ""), raw)
        ingest.read_error, ingest.signal_id, ingest.retried = read_error, signal_id, retried
        try:
            return _ingest_checked(request, ingest)
        except E.UtmError as err:
            row = ingest.log(
                status=Signal.Status.REJECTED, message_code=err.code, message=err.log_message()
            )
            return err.response(log_id=row.log_id)

    return _retried(admission)


def utm_reject_method(request):
    """Anything but POST: 405, logged like every other request with a valid key."""
    signal_id = uuid.uuid4()

    def admission(retried: bool):
        key = _authenticate(request)
        ingest = Ingest(key, client_ip(request), request.META.get("CONTENT_TYPE", ""))
        ingest.signal_id, ingest.retried = signal_id, retried
        err = E.UtmError(E.METHOD_NOT_ALLOWED, 405, "Use POST")
        row = ingest.log(status=Signal.Status.REJECTED, message_code=err.code, message=err.message)
        return err.response(log_id=row.log_id)

    return _retried(admission)


def _retried(admission):
    try:
        return retried_once(admission, what="UTM admission")
    except Unavailable:
        return E.service_unavailable().response()
