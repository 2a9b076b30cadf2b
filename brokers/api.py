"""/api/v1/accounts/ (broker accounts), /api/v1/orders/, /api/v1/positions/."""

from django.http import Http404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.permissions import (
    TRADE,
    TenantScopedMixin,
    acting_user,
    filter_params,
    request_tenant,
)
from brokers.connections import broker_account_test_connection
from brokers.models import BrokerAccount, Order, Position
from brokers.serializers import (
    BrokerAccountSerializer,
    OrderFilterSerializer,
    OrderSerializer,
    PositionFilterSerializer,
    PositionSerializer,
)
from signals.approvals import OrderNotPending, order_approve, order_reject


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


class ConnectionResultSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    description = serializers.CharField(help_text="The broker's account, when ok.")
    reason = serializers.CharField(help_text="Why the broker refused or could not be reached.")


class BrokerAccountViewSet(TenantScopedMixin, viewsets.ModelViewSet):
    """Broker accounts. ``test-connection`` checks the stored credentials with the broker
    without trading (traders may; viewers may not)."""

    model = BrokerAccount
    serializer_class = BrokerAccountSerializer
    access_by_action = {"test_connection": TRADE}

    @extend_schema(request=None, responses={200: ConnectionResultSerializer})
    @action(detail=True, methods=["post"], url_path="test-connection")
    def test_connection(self, request, pk=None):
        account = self.get_object()  # another tenant's account is a 404 here
        result = broker_account_test_connection(account=account)
        return Response(
            {"ok": result.ok, "description": result.description, "reason": result.reason}
        )

    def get_queryset(self):
        return super().get_queryset().order_by("created_at")

    def perform_create(self, serializer):
        serializer.save(organization=request_tenant(self.request).organization)


@extend_schema_view(list=extend_schema(parameters=[OrderFilterSerializer]))
class OrderViewSet(TenantScopedMixin, viewsets.ReadOnlyModelViewSet):
    """Orders; those waiting for approval (status pending_approval) can be approved, which
    submits them, or rejected. Traders and keys with signals:write may do both."""

    model = Order
    serializer_class = OrderSerializer
    access_by_action = {"approve": TRADE, "reject": TRADE}

    @extend_schema(request=None, responses={200: OrderSerializer(many=True), 409: ErrorSerializer})
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        return self._decide(order_approve)

    @extend_schema(request=None, responses={200: OrderSerializer(many=True), 409: ErrorSerializer})
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        return self._decide(order_reject)

    def _decide(self, decision):
        order = self.get_object()  # another tenant's order is a 404 here
        user = acting_user(self.request)
        try:
            decided = decision(organization=order.organization, order_id=order.pk, user=user)
        except OrderNotPending as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(OrderSerializer(decided, many=True).data)

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
