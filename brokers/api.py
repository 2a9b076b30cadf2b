"""/api/v1/accounts/ (broker accounts), /api/v1/positions/. Orders and drifts, which reach
a broker, are execution.api's."""

from django.http import Http404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.permissions import TRADE, TenantScopedMixin, filter_params, request_tenant
from brokers.connections import broker_account_test_connection
from brokers.models import BrokerAccount, Position
from brokers.serializers import (
    BrokerAccountSerializer,
    PositionFilterSerializer,
    PositionSerializer,
)


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
