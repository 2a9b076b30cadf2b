"""/api/v1/accounts/ (broker accounts), /api/v1/orders/, /api/v1/positions/."""

from django.http import Http404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, viewsets

from accounts.permissions import TenantScopedMixin, filter_params, request_tenant
from brokers.models import BrokerAccount, Order, Position
from brokers.serializers import (
    BrokerAccountSerializer,
    OrderFilterSerializer,
    OrderSerializer,
    PositionFilterSerializer,
    PositionSerializer,
)


class BrokerAccountViewSet(TenantScopedMixin, viewsets.ModelViewSet):
    model = BrokerAccount
    serializer_class = BrokerAccountSerializer

    def get_queryset(self):
        return super().get_queryset().order_by("created_at")

    def perform_create(self, serializer):
        serializer.save(organization=request_tenant(self.request).organization)


@extend_schema_view(list=extend_schema(parameters=[OrderFilterSerializer]))
class OrderViewSet(TenantScopedMixin, viewsets.ReadOnlyModelViewSet):
    model = Order
    serializer_class = OrderSerializer

    def get_queryset(self):
        queryset = super().get_queryset().order_by("-created_at")
        if self.action != "list":
            return queryset
        params = filter_params(OrderFilterSerializer, self.request)
        lookups = {
            "status": "status",
            "accountId": "account_id",
            "signalId": "signal_id",
            "symbol": "symbol__iexact",
            "since": "created_at__gte",
        }
        return queryset.filter(**{lookups[k]: v for k, v in params.items()})


@extend_schema_view(list=extend_schema(parameters=[PositionFilterSerializer]))
class PositionViewSet(TenantScopedMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Open positions; quantity is negative when short."""

    model = Position
    serializer_class = PositionSerializer

    def get_queryset(self):
        queryset = super().get_queryset().exclude(quantity=0).order_by("account_id", "symbol")
        params = filter_params(PositionFilterSerializer, self.request)
        if "accountId" in params:
            organization = request_tenant(self.request).organization
            exists = BrokerAccount.objects.for_org(organization).filter(pk=params["accountId"])
            if not exists.exists():
                raise Http404("Account not found.")
            queryset = queryset.filter(account_id=params["accountId"])
        if "symbol" in params:
            queryset = queryset.filter(symbol__iexact=params["symbol"])
        return queryset
