"""Reads of broker data, always scoped to an organization first."""

import uuid
from collections.abc import Iterable
from decimal import Decimal

from django.db.models import QuerySet

from accounts.models import Organization
from brokers.models import BrokerAccount, Order, PaperPrice, Position
from config.compiled import CompiledQuery


def broker_account_get(*, organization: Organization, account_id) -> BrokerAccount:
    """Raises BrokerAccount.DoesNotExist for another tenant's account (a 404 in views)."""
    return BrokerAccount.objects.for_org(organization).get(pk=account_id)


def broker_account_list(*, organization: Organization) -> QuerySet[BrokerAccount]:
    return BrokerAccount.objects.for_org(organization).order_by("name")


def position_list(
    *, organization: Organization, account: BrokerAccount | None = None
) -> QuerySet[Position]:
    """Open positions (flat rows are kept for their realized P&L but not listed)."""
    positions = Position.objects.for_org(organization).exclude(quantity=0)
    if account is not None:
        positions = positions.filter(account=account)
    return positions.select_related("account").order_by("symbol")


def order_list(
    *,
    organization: Organization,
    account: BrokerAccount | None = None,
    statuses: Iterable[str] | None = None,
) -> QuerySet[Order]:
    orders = Order.objects.for_org(organization)
    if account is not None:
        orders = orders.filter(account=account)
    if statuses is not None:
        orders = orders.filter(status__in=list(statuses))
    return orders.select_related("account").order_by("-created_at")


# Read several times per signal: compiled once (config.compiled).
_PAPER_PRICE = CompiledQuery(
    lambda organization_id, symbol: PaperPrice.objects.filter(
        organization_id=organization_id, symbol=symbol
    ).values_list("price")[:1],
    organization_id=uuid.UUID,
    symbol=str,
)


def paper_price_get(*, organization_id, symbol: str) -> Decimal | None:
    """The paper market's last price of ``symbol`` for this organization, if any."""
    rows = _PAPER_PRICE.rows(organization_id=organization_id, symbol=symbol)
    return rows[0][0] if rows else None


def paper_prices_get(*, organization_id, symbols: Iterable[str]) -> dict[str, Decimal]:
    rows = PaperPrice.objects.filter(organization_id=organization_id, symbol__in=list(symbols))
    return dict(rows.values_list("symbol", "price"))
