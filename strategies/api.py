"""/api/v1/strategies/ and /api/v1/subscriptions/."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import viewsets

from accounts.permissions import TenantScopedMixin, filter_params, request_tenant
from strategies.models import Strategy, Subscription
from strategies.serializers import (
    StrategySerializer,
    SubscriptionFilterSerializer,
    SubscriptionSerializer,
)


class StrategyViewSet(TenantScopedMixin, viewsets.ModelViewSet):
    model = Strategy
    serializer_class = StrategySerializer

    def get_queryset(self):
        return super().get_queryset().order_by("name")

    def perform_create(self, serializer):
        serializer.save(organization=request_tenant(self.request).organization)


@extend_schema_view(list=extend_schema(parameters=[SubscriptionFilterSerializer]))
class SubscriptionViewSet(TenantScopedMixin, viewsets.ModelViewSet):
    model = Subscription
    serializer_class = SubscriptionSerializer

    def get_queryset(self):
        queryset = super().get_queryset().order_by("created_at")
        if self.action != "list":
            return queryset
        params = filter_params(SubscriptionFilterSerializer, self.request)
        lookups = {"strategyId": "strategy_id", "accountId": "account_id"}
        return queryset.filter(**{lookups[k]: v for k, v in params.items()})

    def perform_create(self, serializer):
        serializer.save(organization=request_tenant(self.request).organization)
