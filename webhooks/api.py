"""POST /api/v1/signals/ingest (the UTM dialect) and /api/v1/webhooks/ (webhook settings).

The ingest view answers only in the UTM envelope (webhooks.utm_errors), whatever goes wrong,
so it authenticates the key itself instead of letting DRF answer in its own shape.
Checks run in a fixed order: key, body size, organization, scope, rate, JSON, idempotent
repeat, fields, account, mode, strategy. Every request with a valid key is one log row.
"""

import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, viewsets
from rest_framework.decorators import action
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.auth import ApiKeyAuthentication, api_key_from_request
from accounts.models import ApiKey
from accounts.permissions import MANAGE, TenantScopedMixin, request_tenant
from accounts.services import api_key_authenticate
from brokers.models import BrokerAccount
from signals.models import Signal
from signals.services import body_digest, signal_accept, signal_log
from strategies.models import Strategy
from webhooks import utm_errors as E
from webhooks.ingress import (
    BodyTooLarge,
    EmptyBody,
    MalformedJson,
    client_ip,
    decode_json,
    rate_limit_retry_after,
    read_body,
)
from webhooks.models import Webhook
from webhooks.serializers import (
    UtmAcceptedSerializer,
    UtmErrorSerializer,
    UtmSignalRequestSerializer,
    WebhookSerializer,
    WebhookUrlSerializer,
)
from webhooks.services import webhook_create, webhook_rotate_password, webhook_url
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

    def log(self, *, status: str, **fields) -> Signal:
        return signal_log(status=status, **self._row(fields))

    def accept(self, **fields) -> Signal:
        return signal_accept(**self._row(fields))

    def _row(self, fields: dict) -> dict:
        body = self.body if isinstance(self.body, dict) else {}
        row = {
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
    wait = rate_limit_retry_after(
        request, group="utm-api-key", key=str(key.pk), rate=f"{per_minute}/m"
    )
    if wait is not None:
        raise E.UtmError(E.RATE_LIMIT_EXCEEDED, 429, "Too many requests", retry_after=wait)


def _read(request, ingest: Ingest) -> None:
    try:
        ingest.raw = read_body(request, max_bytes=settings.WEBHOOK_MAX_BODY_BYTES)
    except BodyTooLarge:
        limit = settings.WEBHOOK_MAX_BODY_BYTES
        raise E.validation_error([{"field": "body", "message": f"Body over {limit} bytes"}])


def _decode(ingest: Ingest) -> None:
    try:
        ingest.body = decode_json(ingest.raw)
    except EmptyBody:
        raise E.validation_error([{"field": "body", "message": "Body is empty"}])
    except MalformedJson:
        raise E.validation_error([{"field": "body", "message": "Body is not valid JSON"}])


def _idempotency_key(request, body) -> str | None:
    """The Idempotency-Key header, else the body's clientSignalId (senders that cannot set
    headers); None when neither is usable (a bad clientSignalId is reported by the parser)."""
    header = request.META.get(IDEMPOTENCY_HEADER)
    if header is not None:
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
    _read(request, ingest)
    _check_key(request, ingest.key)
    _decode(ingest)
    idempotency_key = _idempotency_key(request, ingest.body)
    if idempotency_key and (first := _first_with_key(ingest, idempotency_key)):
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
    key = _authenticate(request)  # no valid key, no tenant: nothing to log against
    ingest = Ingest(key, client_ip(request), request.META.get("CONTENT_TYPE", ""))
    try:
        return _ingest_checked(request, ingest)
    except E.UtmError as err:
        row = ingest.log(
            status=Signal.Status.REJECTED, message_code=err.code, message=err.log_message()
        )
        return err.response(log_id=row.log_id)


def utm_reject_method(request):
    """Anything but POST: 405, logged like every other request with a valid key."""
    key = _authenticate(request)
    ingest = Ingest(key, client_ip(request), request.META.get("CONTENT_TYPE", ""))
    err = E.UtmError(E.METHOD_NOT_ALLOWED, 405, "Use POST")
    row = ingest.log(status=Signal.Status.REJECTED, message_code=err.code, message=err.message)
    return err.response(log_id=row.log_id)


class AnyContentNegotiation(BaseContentNegotiation):
    """The ingest endpoint answers JSON whatever the Accept header says."""

    def select_parser(self, request, parsers):
        return None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


BASIC_EXAMPLE = {"symbol": "AAPL", "action": "openLong", "accountId": "your-account-id"}
BASIC_EXAMPLE["quantity"] = 100
EXIT_RULES_EXAMPLE = {
    **BASIC_EXAMPLE,
    "orderType": "LIMIT",
    "limitPrice": 150.00,
    "exitRules": {
        "stopLoss": {"type": "PERCENT", "value": 2.0},
        "takeProfit": {"type": "PERCENT", "value": 5.0},
    },
}
INGEST_ERRORS = {
    400: "VALIDATION_ERROR: bad JSON, body over the size limit, or bad fields (all listed).",
    401: "INVALID_API_KEY: the key is missing, unknown or revoked.",
    403: "INVALID_API_KEY (the key lacks the signals:write scope) or ORGANIZATION_SUSPENDED.",
    404: "ACCOUNT_NOT_FOUND: no account with this id in the key's organization.",
    405: "METHOD_NOT_ALLOWED: only POST.",
    409: "MODE_MISMATCH: a paper key for a live account, or the reverse.",
    429: "RATE_LIMIT_EXCEEDED: over the key's per-minute limit; see Retry-After.",
}


@extend_schema_view(
    post=extend_schema(
        operation_id="signals_ingest",
        summary="Send a trading signal (UTM dialect)",
        description=__doc__ + "\n\nAn `Idempotency-Key` header (or `clientSignalId`) makes a "
        "repeat return the first answer (same signalId) and never place a second order.",
        tags=["signals"],
        parameters=[
            OpenApiParameter(
                "Idempotency-Key", str, OpenApiParameter.HEADER, description="1-200 characters"
            )
        ],
        request=UtmSignalRequestSerializer,
        responses={
            200: OpenApiResponse(UtmAcceptedSerializer, "Signal received and queued."),
            **{
                code: OpenApiResponse(UtmErrorSerializer, text)
                for code, text in INGEST_ERRORS.items()
            },
        },
        examples=[
            OpenApiExample("Basic signal", BASIC_EXAMPLE, request_only=True),
            OpenApiExample("Signal with exit rules", EXIT_RULES_EXAMPLE, request_only=True),
        ],
    )
)
class SignalIngestView(APIView):
    # Listed for the OpenAPI schema; the view authenticates itself (utm_ingest) so that
    # even a bad key is answered in the UTM envelope.
    authentication_classes = [ApiKeyAuthentication]
    permission_classes: list = []
    content_negotiation_class = AnyContentNegotiation

    def perform_authentication(self, request) -> None:
        pass

    def post(self, request):
        try:
            return utm_ingest(request._request)
        except E.UtmError as err:
            return err.response()

    def http_method_not_allowed(self, request, *args, **kwargs):
        try:
            answer = utm_reject_method(request._request)
        except E.UtmError as err:
            answer = err.response()
        answer["Allow"] = "POST, OPTIONS"
        return answer

    def handle_exception(self, exc):
        if isinstance(exc, exceptions.APIException):
            return E.UtmError(E.VALIDATION_ERROR, exc.status_code, str(exc.detail)).response()
        return super().handle_exception(exc)


class WebhookViewSet(TenantScopedMixin, viewsets.ModelViewSet):
    """Webhooks and their restrictions. The URL (it contains the password) is shown only to
    managers; "Generate New URL" is POST /api/v1/webhooks/{id}/regenerate."""

    model = Webhook
    serializer_class = WebhookSerializer

    def get_queryset(self):
        return super().get_queryset().select_related("strategy").order_by("created_at")

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if "organization" in context:
            context["show_url"] = request_tenant(self.request).can(*MANAGE)
        return context

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        serializer.instance = webhook_create(
            organization=request_tenant(self.request).organization,
            strategy=data.pop("strategy"),
            name=data.pop("name"),
            **data,
        )

    @extend_schema(request=None, responses={200: WebhookUrlSerializer})
    @action(detail=True, methods=["post"])
    def regenerate(self, request, pk=None):
        webhook = self.get_object()
        webhook_rotate_password(webhook=webhook)
        return Response({"id": str(webhook.id), "url": webhook_url(webhook=webhook)})


@extend_schema_view(post=extend_schema(exclude=True))
class SignalIngestSlashView(SignalIngestView):
    """The same endpoint with a trailing slash (documented once, without it)."""
