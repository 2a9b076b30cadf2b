"""/api/v1/signals/: the signal log (list with filters) and each signal's outcome."""

from django.db.models import Exists, OuterRef
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import viewsets

from accounts.permissions import TenantScopedMixin, filter_params
from brokers.models import Order
from signals.models import Signal, SignalResult
from signals.serializers import (
    BROKER_FAILURES,
    SignalDetailSerializer,
    SignalFilterSerializer,
    SignalSerializer,
)

FILTER_LOOKUPS = {
    "status": "status",
    "ticker": "ticker__iexact",
    "dialect": "dialect",
    "since": "received_at__gte",
    "accountId": "account_id",
    "webhookId": "webhook_id",
}


@extend_schema_view(list=extend_schema(parameters=[SignalFilterSerializer]))
class SignalViewSet(TenantScopedMixin, viewsets.ReadOnlyModelViewSet):
    model = Signal

    def get_serializer_class(self):
        return SignalDetailSerializer if self.action == "retrieve" else SignalSerializer

    def get_queryset(self):
        failures = Order.objects.filter(signal=OuterRef("pk"), status__in=BROKER_FAILURES)
        refusals = SignalResult.objects.filter(
            signal=OuterRef("pk"), error_code=SignalResult.BROKER_ERROR
        )
        queryset = (
            super()
            .get_queryset()
            .annotate(has_broker_failure=Exists(failures) | Exists(refusals))
            .order_by("-received_at")
        )
        if self.action != "list":
            return queryset
        params = filter_params(SignalFilterSerializer, self.request)
        return queryset.filter(**{FILTER_LOOKUPS[k]: v for k, v in params.items()})
