"""/api/v1/accounts/ (with test-connection), /api/v1/orders/ (with approve, reject and
cancel) and /api/v1/position-drifts/: what reaches a broker."""

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
from brokers.adapters.base import BrokerError
from brokers.api import of_account
from brokers.models import BrokerAccount, Order, PositionDrift
from brokers.serializers import (
    BrokerAccountSerializer,
    OrderFilterSerializer,
    OrderSerializer,
    PositionDriftFilterSerializer,
    PositionDriftSerializer,
)
from execution.approvals import OrderNotPending, order_approve, order_reject
from execution.connections import broker_account_test_connection
from execution.orders import OrderNotOpen, order_cancel


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


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


@extend_schema_view(list=extend_schema(parameters=[OrderFilterSerializer]))
class OrderViewSet(TenantScopedMixin, viewsets.ReadOnlyModelViewSet):
    """Orders; those waiting for approval (status pending_approval) can be approved, which
    submits them, or rejected; an open one can be canceled at its broker. Traders and keys
    with signals:write may do all three."""

    model = Order
    serializer_class = OrderSerializer
    access_by_action = {"approve": TRADE, "reject": TRADE, "cancel": TRADE}

    @extend_schema(request=None, responses={200: OrderSerializer(many=True), 409: ErrorSerializer})
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        return self._decide(order_approve)

    @extend_schema(request=None, responses={200: OrderSerializer(many=True), 409: ErrorSerializer})
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        return self._decide(order_reject)

    @extend_schema(
        request=None,
        responses={200: OrderSerializer, 409: ErrorSerializer, 502: ErrorSerializer},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        order = self.get_object()  # another tenant's order is a 404 here
        try:
            canceled = order_cancel(organization=order.organization, order_id=order.pk)
        except OrderNotOpen as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        except BrokerError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_502_BAD_GATEWAY)
        return Response(OrderSerializer(canceled).data)

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


@extend_schema_view(list=extend_schema(parameters=[PositionDriftFilterSerializer]))
class PositionDriftViewSet(
    TenantScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Differences reconciliation found between our positions and the broker's, newest
    first; read-only (nothing is traded to close one)."""

    model = PositionDrift
    serializer_class = PositionDriftSerializer

    def get_queryset(self):
        queryset = super().get_queryset().order_by("-detected_at", "-id")
        if self.action != "list":
            return queryset
        params = filter_params(PositionDriftFilterSerializer, self.request)
        if "accountId" in params:
            queryset = of_account(queryset, self.request, params["accountId"])
        if "open" in params:
            queryset = queryset.filter(resolved_at__isnull=params["open"])
        return queryset
