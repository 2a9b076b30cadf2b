"""POST /api/v1/signals/ingest (the UTM dialect) and /api/v1/webhooks/ (webhook settings).

The ingest view answers only in the UTM envelope (webhooks.utm_errors), whatever goes wrong,
so it authenticates the key itself (webhooks.utm_ingest) instead of letting DRF answer in
its own shape.
"""

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

from accounts.auth import ApiKeyAuthentication
from accounts.permissions import MANAGE, TenantScopedMixin, request_tenant
from webhooks import utm_errors as E
from webhooks.models import Webhook
from webhooks.selectors import webhook_rejected_attempts
from webhooks.serializers import (
    RejectedAttemptsSerializer,
    UtmAcceptedSerializer,
    UtmErrorSerializer,
    UtmSignalRequestSerializer,
    WebhookSerializer,
    WebhookUrlSerializer,
)
from webhooks.services import webhook_rotate_password, webhook_url
from webhooks.utm_ingest import utm_ingest, utm_reject_method


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
INGEST_DESCRIPTION = (
    "The UTM signal ingestion dialect. Authenticate with the X-API-Key header (or ?apiKey=). "
    "Every problem of a body is listed at once in details. Checks run in a fixed order: "
    "key, body size, organization, scope, rate, JSON, idempotent repeat, fields, account, "
    "mode, strategy. An `Idempotency-Key` header (or `clientSignalId`) makes a repeat "
    "return the first answer (same signalId) and never place a second order."
)
INGEST_ERRORS = {
    400: (
        "VALIDATION_ERROR: bad JSON (also: nested deeper than 32 levels, NUL or a lone "
        "surrogate in any text), body over the size limit, or bad fields (all listed; "
        "every number within what its column holds: below 10^12 today, 8 decimals kept)."
    ),
    401: "INVALID_API_KEY: the key is missing, unknown or revoked.",
    403: "INVALID_API_KEY (the key lacks the signals:write scope) or ORGANIZATION_SUSPENDED.",
    404: "ACCOUNT_NOT_FOUND: no account with this id in the key's organization.",
    405: "METHOD_NOT_ALLOWED: only POST (OPTIONS too is answered 405, Allow: POST).",
    409: "MODE_MISMATCH: a paper key for a live account, or the reverse.",
    429: "RATE_LIMIT_EXCEEDED: over the key's per-minute limit; see Retry-After.",
    503: "SERVICE_UNAVAILABLE: the database stayed out of reach; nothing was logged, send "
    "the signal again after Retry-After.",
}


@extend_schema_view(
    post=extend_schema(
        operation_id="signals_ingest",
        summary="Send a trading signal (UTM dialect)",
        description=INGEST_DESCRIPTION,
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

    @property
    def allowed_methods(self):
        # What DRF puts in every answer's Allow header: OPTIONS is refused too.
        return ["POST"]

    def options(self, request, *args, **kwargs):
        # DRF would describe the view in its own metadata shape; this endpoint speaks
        # only the UTM envelope, and takes only POST.
        return self.http_method_not_allowed(request, *args, **kwargs)

    def http_method_not_allowed(self, request, *args, **kwargs):
        try:
            answer = utm_reject_method(request._request)
        except E.UtmError as err:
            answer = err.response()
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
        serializer.save(organization=request_tenant(self.request).organization)

    @extend_schema(request=None, responses={200: WebhookUrlSerializer})
    @action(detail=True, methods=["post"])
    def regenerate(self, request, pk=None):
        webhook = self.get_object()
        webhook_rotate_password(webhook=webhook)
        url = webhook_url(webhook=webhook, request=request)
        return Response({"id": str(webhook.id), "url": url})

    @extend_schema(
        summary="Requests without the webhook's password, counted per minute",
        description="Wrong or missing passwords are not logged one by one (anyone who "
        "knows a webhook's id can send them): each minute and answer code is one row "
        "with a count and a small sample. Newest first.",
        responses={200: RejectedAttemptsSerializer(many=True)},
    )
    @action(detail=True, methods=["get"], url_path="rejected-attempts")
    def rejected_attempts(self, request, pk=None):
        webhook = self.get_object()
        rows = webhook_rejected_attempts(
            organization=request_tenant(request).organization, webhook=webhook
        )
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(RejectedAttemptsSerializer(page, many=True).data)


@extend_schema_view(post=extend_schema(exclude=True))
class SignalIngestSlashView(SignalIngestView):
    """The same endpoint with a trailing slash (documented once, without it)."""
