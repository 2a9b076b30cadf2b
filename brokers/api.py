"""/api/v1/positions/. Broker accounts (whose test-connection reaches the broker), orders
and drifts are execution.api's."""

from django.http import Http404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, viewsets

from accounts.permissions import TenantScopedMixin, filter_params, request_tenant
from brokers.models import BrokerAccount, Position
from brokers.serializers import PositionFilterSerializer, PositionSerializer


def of_account(queryset, request, account_id):
    """``queryset`` narrowed to one broker account of the request's organization; another
    tenant's account (or none) is a 404, as its object would be."""
    organization = request_tenant(request).organization
    if not BrokerAccount.objects.for_org(organization).filter(pk=account_id).exists():
        raise Http404("Account not found.")
    return queryset.filter(account_id=account_id)


@extend_schema_view(list=extend_schema(parameters=[PositionFilterSerializer]))
class PositionViewSet(TenantScopedMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Open positions; quantity is negative when short."""

    model = Position
    serializer_class = PositionSerializer

    def get_queryset(self):
        queryset = super().get_queryset().exclude(quantity=0).order_by("account_id", "symbol")
        params = filter_params(PositionFilterSerializer, self.request)
        if "accountId" in params:
            queryset = of_account(queryset, self.request, params["accountId"])
        if "symbol" in params:
            queryset = queryset.filter(symbol__iexact=params["symbol"])
        return queryset
