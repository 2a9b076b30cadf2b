import functools
import ipaddress
import secrets
import uuid
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.utils import timezone

from accounts.crypto import decrypt_text, encrypt_text
from accounts.models import Organization
from accounts.services import secret_digest, secret_matches
from brokers.instruments import instrument_asset_classes
from config.rules import Range, assign, range_errors, refuse, text_list_errors
from signals.faults import Unavailable, retried_once
from signals.models import RejectedAttempts, Signal
from signals.services import (
    body_digest,
    rejected_attempt_count,
    signal_duplicate_release,
    signal_enqueue,
    signal_log,
)
from strategies.models import Strategy
from webhooks.admission import Claim, Facts, admit
from webhooks.ingress import (
    BodyTooLarge,
    BodyUnreadable,
    EmptyBody,
    JsonRejected,
    MalformedJson,
    client_ip,
    decode_json,
    ip_in,
    read_body,
)
from webhooks.models import Webhook
from webhooks.selectors import webhook_get_for_ingest
from webhooks.traderspost import (
    MESSAGES,
    Parsed,
    WebhookRejected,
    json_refusal_message,
    parse,
)


def _new_password() -> str:
    return secrets.token_hex(16)  # 128 bits


WEBHOOK_RANGES = {"duplicate_window_seconds": Range(minimum=0, maximum=3600)}
RESTRICTIONS_MAX = 200  # allowed IPs, allowed tickers


def webhook_validate(*, webhook: Webhook) -> None:
    """Refuse settings that cannot work; normalise the restriction lists (networks in CIDR
    form, tickers upper-cased, no repeats) so every writer stores the same thing."""
    errors = range_errors(webhook, WEBHOOK_RANGES)
    if webhook.strategy.organization_id != webhook.organization_id:
        errors["strategy"] = "Strategy not found."
    for name, normalise in (("allowed_ips", _networks), ("allowed_tickers", _tickers)):
        values = getattr(webhook, name)
        problem = text_list_errors(values, name=name)
        if not problem and len(values) > RESTRICTIONS_MAX:
            problem = {name: f"At most {RESTRICTIONS_MAX} entries."}
        if not problem:
            normalised, message = normalise(values)
            setattr(webhook, name, normalised)
            problem = {name: message} if message else {}
        errors |= problem
    refuse(errors)


def _networks(values: list[str]) -> tuple[list[str], str | None]:
    networks, bad = [], []
    for value in values:
        try:
            networks.append(str(ipaddress.ip_network(value.strip(), strict=False)))
        except ValueError:
            bad.append(value)
    if bad:
        return values, f"Not an IP address or CIDR network: {', '.join(bad)}"
    return list(dict.fromkeys(networks)), None


def _tickers(values: list[str]) -> tuple[list[str], str | None]:
    tickers = [value.strip().upper() for value in values]
    if not all(tickers):
        return values, "Tickers may not be empty."
    return list(dict.fromkeys(tickers)), None


def webhook_create(
    *, organization: Organization, strategy: Strategy, name: str, **settings_fields
) -> Webhook:
    if Webhook.objects.for_org(organization).count() >= organization.max_webhooks:
        limit = f"Your plan allows at most {organization.max_webhooks} webhooks."
        refuse({"__all__": limit}, conflict=True)
    password = _new_password()
    webhook = Webhook(
        organization=organization,
        strategy=strategy,
        name=name,
        asset_class=settings_fields.pop("asset_class", strategy.asset_class),
        password_digest=secret_digest(password),
        password_encrypted=encrypt_text(password),
        **settings_fields,
    )
    webhook_validate(webhook=webhook)
    webhook.save()
    return webhook


def webhook_update(*, webhook: Webhook, **settings_fields) -> Webhook:
    assign(webhook, settings_fields.items())
    webhook_validate(webhook=webhook)
    webhook.save()
    return webhook


def webhook_delete(*, webhook: Webhook) -> None:
    """Delete the webhook: its URL answers not-found from now on. Its signals stay in the
    log (their webhook becomes empty)."""
    webhook.delete()


def webhook_rotate_password(*, webhook: Webhook) -> str:
    """ "Generate New URL": a new password; from now on the old URL answers invalid-password."""
    password = _new_password()
    webhook.password_digest = secret_digest(password)
    webhook.password_encrypted = encrypt_text(password)
    webhook.password_rotated_at = timezone.now()
    webhook.save(update_fields=["password_digest", "password_encrypted", "password_rotated_at"])
    return password


def webhook_password(*, webhook: Webhook) -> str:
    return decrypt_text(webhook.password_encrypted)


LOCAL_BASE_URL = "http://127.0.0.1:8000"  # runserver's address, when nothing says better


def webhook_url(*, webhook: Webhook, base_url: str | None = None, request=None) -> str:
    """The URL to post to: on ``base_url``, else the configured PUBLIC_BASE_URL, else the
    scheme and host ``request`` came to (behind the TLS proxy, https), else LOCAL_BASE_URL."""
    base = base_url or settings.PUBLIC_BASE_URL
    if not base:
        base = request.build_absolute_uri("/") if request is not None else LOCAL_BASE_URL
    return f"{base.rstrip('/')}/trading/webhook/{webhook.id}/{webhook_password(webhook=webhook)}"


# --- Ingestion: POST /trading/webhook/<uuid>/<password> (the TradersPost dialect) --------

TRADINGVIEW_IPS = ("52.89.214.238", "34.212.75.30", "54.218.53.128", "52.32.178.7")
TRENDSPIDER_IPS = ("3.12.143.24",)
NOT_FOUND_BODY = {"success": False, "messageCode": "not-found", "message": MESSAGES["not-found"]}
# The database stayed out of reach through the retry: a 5xx is what makes TradingView send
# the alert again (up to 3 times, 5 s apart), so that is the answer, with nothing logged.
UNAVAILABLE_MESSAGE = "The service is temporarily unavailable; send the signal again."
UNAVAILABLE_BODY = {
    "success": False,
    "messageCode": "service-unavailable",
    "message": UNAVAILABLE_MESSAGE,
}
UNAVAILABLE_RETRY_AFTER = 5


@dataclass
class Answer:
    """What the view sends back: status, JSON body, and Retry-After for a 429."""

    status: int
    body: dict
    retry_after: int | None = None


@dataclass
class _Request:
    """One webhook request as it moves through the checks (what the log row needs)."""

    http: Any
    webhook: Webhook | None
    ip: str | None
    received_at: Any
    # The log row's id, chosen once per request: whichever try writes the row (and makes
    # the duplicate claim) uses it, so a retry finds its own first try instead of a copy.
    signal_id: uuid.UUID
    authenticated: bool = False  # the URL's password is the webhook's
    raw: bytes = b""
    too_large: bool = False
    unreadable: bool = False
    data: Any = None
    retried: bool = False
    # The counters' verdict of the first try that reached them: a retried admission is the
    # same request, counted once (its claim is made again: a failed try released it).
    verdict: Any = None


def webhook_ingest(*, request, webhook_id: str, password: str) -> Answer:
    """Run one request through the checks in their documented order (docs/webhooks.md):
    method, webhook, password, state, rate, source IP, JSON, then the body fields. Every
    request that names a known webhook leaves exactly one Signal row.

    A transient database fault anywhere in the admission (the lookup, the log INSERT)
    runs it all once more on a new session; a second one is a 503 with Retry-After."""
    ctx = _Request(
        http=request,
        webhook=None,
        ip=client_ip(request),
        received_at=timezone.now(),
        signal_id=uuid.uuid4(),
    )
    _read(ctx)  # once: a retry cannot read the request's stream again

    def admission(retried: bool) -> Answer:
        ctx.retried, ctx.data = retried, None
        return _ingest(ctx, webhook_id, password)

    try:
        return retried_once(admission, what="webhook admission")
    except Unavailable:
        return Answer(503, dict(UNAVAILABLE_BODY), UNAVAILABLE_RETRY_AFTER)


def _read(ctx: _Request) -> None:
    try:
        ctx.raw = read_body(ctx.http, max_bytes=settings.WEBHOOK_MAX_BODY_BYTES)
    except BodyTooLarge:
        ctx.too_large = True
    except BodyUnreadable:
        ctx.unreadable = True


def _ingest(ctx: _Request, webhook_id: str, password: str) -> Answer:
    request = ctx.http
    webhook = ctx.webhook = webhook_get_for_ingest(webhook_id=webhook_id)
    if request.method != "POST" and webhook is None:
        return _error_answer(WebhookRejected("post-required"), log_id=None)
    if webhook is None:
        return Answer(404, dict(NOT_FOUND_BODY))
    ctx.authenticated = secret_matches(password, webhook.password_digest)
    try:
        if request.method != "POST":
            raise WebhookRejected("post-required")
        parsed, claim, first_id = _admit(ctx)
    except WebhookRejected as rejected:
        row = _log(ctx, status=Signal.Status.REJECTED, code=rejected.code, message=rejected.message)
        return _error_answer(rejected, log_id=row.log_id)
    return _accept(ctx, parsed, claim, first_id)


def _error_answer(rejected: WebhookRejected, *, log_id) -> Answer:
    body: dict = {"success": False}
    if log_id is not None:
        body["logId"] = str(log_id)
    body |= {"messageCode": rejected.code, "message": rejected.message}
    return Answer(rejected.status, body, rejected.retry_after)


def _admit(ctx: _Request) -> tuple[Parsed, Claim, Any]:
    """The checks after the method, in their documented order: password (a failure is
    counted, and shed past the limit), state, rate, source IP, body. What needs no shared
    counter (the password, the state, the source IP, the body) is worked out here first;
    webhooks.admission then counts, limits and claims in one round trip and says where
    the request stops. Returns the parsed body, the claim made, and the first signal's
    id if this is a duplicate of it."""
    webhook = ctx.webhook
    password_ok = ctx.authenticated
    refused = _state_refusal(webhook)
    parsed = later = claim = None
    if password_ok and refused is None:
        try:
            _check_source(ctx)
            parsed = _parse_body(ctx)
        except WebhookRejected as rejected:
            later = rejected
    if parsed is not None:
        claim = Claim(
            scope=str(webhook.id),
            body_hash=body_digest(ctx.raw),
            window_seconds=webhook.duplicate_window_seconds,
            signal_id=ctx.signal_id,
        )
    org = webhook.organization
    facts = Facts(
        webhook_id=str(webhook.id),
        password_ok=password_ok,
        state_ok=refused is None,
        rate_per_minute=org.webhook_rate_per_minute or settings.WEBHOOK_RATE_PER_MINUTE,
        rate_per_hour=org.webhook_rate_per_hour or settings.WEBHOOK_RATE_PER_HOUR,
        checks_ok=later is None,
        claim=claim,
    )
    if ctx.verdict is not None and ctx.verdict.retry_after is not None:
        verdict = ctx.verdict  # shed on the first try: still shed, not counted again
    else:
        verdict = admit(replace(facts, counted=ctx.verdict is not None))
    ctx.verdict = verdict
    first_id = verdict.first_id
    if claim is not None and first_id == claim.signal_id:
        first_id = None  # this request's own claim, made by a try that did not finish
    if verdict.retry_after is not None:
        raise WebhookRejected("too-many-requests", status=429, retry_after=verdict.retry_after)
    if not password_ok:
        raise WebhookRejected("invalid-password")
    if refused is not None:
        raise refused
    if later is not None:
        raise later
    return parsed, claim, first_id


def _state_refusal(webhook: Webhook) -> WebhookRejected | None:
    if not webhook.organization.is_active:
        return WebhookRejected("organization-suspended")
    if not webhook.enabled:
        return WebhookRejected("webhook-disabled")
    return None


def _check_source(ctx: _Request) -> None:
    webhook = ctx.webhook
    restrictions = []
    if webhook.limit_to_tradingview:
        restrictions.append(("not-trading-view", TRADINGVIEW_IPS))
    if webhook.limit_to_trendspider:
        restrictions.append(("not-trend-spider", TRENDSPIDER_IPS))
    if webhook.allowed_ips:
        restrictions.append(("invalid-ip-address", tuple(webhook.allowed_ips)))
    # Several restrictions widen each other (TradingView or my server); the answer names
    # the first one configured.
    if restrictions and not any(ip_in(ctx.ip, ips) for _, ips in restrictions):
        raise WebhookRejected(restrictions[0][0])


def _parse_body(ctx: _Request) -> Parsed:
    if ctx.too_large:
        limit = settings.WEBHOOK_MAX_BODY_BYTES
        raise WebhookRejected(
            "invalid-payload", f"The payload is too large: at most {limit} bytes are accepted."
        )
    if ctx.unreadable:
        raise WebhookRejected(
            "invalid-payload", "The payload could not be read: its chunked encoding is broken."
        )
    try:
        ctx.data = decode_json(ctx.raw)
    except EmptyBody:
        raise WebhookRejected("empty-json")
    except MalformedJson:
        raise WebhookRejected("malformed-json")
    except JsonRejected as refused:
        raise WebhookRejected("invalid-payload", json_refusal_message(refused))
    return parse(ctx.data, check_ticker=functools.partial(_check_ticker, ctx.webhook))


def _check_ticker(webhook: Webhook, symbol: str) -> None:
    allowed = webhook.allowed_tickers
    if allowed and symbol not in {str(t).strip().upper() for t in allowed}:
        raise WebhookRejected("unsupported-ticker")
    classes = instrument_asset_classes(symbol=symbol)
    if not classes:
        raise WebhookRejected("ticker-does-not-exist")
    if webhook.asset_class not in classes:
        raise WebhookRejected("invalid-asset-class")


def _accept(ctx: _Request, parsed: Parsed, claim: Claim, first_id) -> Answer:
    fields = {
        "body_hash": claim.body_hash,
        "payload": parsed.payload,
        "intent": parsed.intent.to_json(),
        "ticker": parsed.intent.ticker,
        "action": parsed.intent.action,
    }
    if first_id is not None:
        row = _log(
            ctx,
            status=Signal.Status.DUPLICATE,
            message=f"Duplicate of signal {first_id} (same body within the duplicate window).",
            duplicate_of_id=first_id,
            **fields,
        )
        signal_id = first_id
    else:
        try:
            row = _log(ctx, status=Signal.Status.PENDING, id=claim.signal_id, **fields)
        except Exception:
            signal_duplicate_release(
                scope=claim.scope, body_hash=claim.body_hash, signal_id=claim.signal_id
            )
            raise
        signal_enqueue(signal_id=row.id)
        signal_id = row.id
    body = {"success": True, "id": str(signal_id), "logId": str(row.log_id)}
    return Answer(200, body | {"payload": parsed.payload})


def _log(
    ctx: _Request, *, status: str, code: str = "", message: str = "", **fields
) -> Signal | RejectedAttempts:
    """The request's log record (its ``log_id`` is the answer's logId): a Signal row, or,
    for a request without the right password, a count in the webhook's RejectedAttempts
    row for this code and minute: anyone who knows the uuid can send those."""
    if not ctx.authenticated:
        return rejected_attempt_count(
            webhook=ctx.webhook,
            message_code=code,
            source_ip=ctx.ip,
            raw_body=ctx.raw,
            content_type=ctx.http.META.get("CONTENT_TYPE", ""),
            at=ctx.received_at,
        )
    data = ctx.data if isinstance(ctx.data, dict) else {}
    fields.setdefault("payload", data or None)
    fields.setdefault("ticker", _text(data.get("ticker")))
    fields.setdefault("action", _text(data.get("action")))
    fields.setdefault("id", ctx.signal_id)
    return signal_log(
        retried=ctx.retried,
        organization=ctx.webhook.organization,
        dialect=Signal.Dialect.TRADERSPOST,
        status=status,
        raw_body=ctx.raw,
        webhook=ctx.webhook,
        strategy_id=ctx.webhook.strategy_id,
        received_at=ctx.received_at,
        source_ip=ctx.ip,
        content_type=ctx.http.META.get("CONTENT_TYPE", ""),
        message_code=code,
        message=message,
        **fields,
    )


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""
