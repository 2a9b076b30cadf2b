"""Reads of broker data, always scoped to an organization first."""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import QuerySet

from accounts.models import Organization
from brokers.adapters import get_adapter
from brokers.adapters.base import BrokerError
from brokers.models import OPEN_ORDER_STATUSES, BrokerAccount, Order, PaperPrice, Position
from config.compiled import CompiledQuery
from config.keyset import keyset_page, within_days


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


@dataclass(frozen=True)
class PositionView:
    symbol: str
    quantity: Decimal
    average_price: Decimal
    price: Decimal | None  # the last market price known, None when there is none yet
    market_value: Decimal | None
    unrealized_pnl: Decimal | None
    realized_pnl: Decimal


@dataclass(frozen=True)
class AccountOverview:
    account: BrokerAccount
    equity: Decimal | None
    cash: Decimal | None
    buying_power: Decimal | None
    positions: list[PositionView]
    error: str = ""  # the broker's answer when it could not be asked


def account_overview(*, organization: Organization, account: BrokerAccount) -> AccountOverview:
    """Equity, cash, buying power and open positions valued at the last price known (the
    paper market's for paper accounts), as the account page shows them."""
    rows = list(position_list(organization=organization, account=account))
    prices = paper_prices_get(organization_id=organization.id, symbols=[p.symbol for p in rows])
    positions = [_position_view(p, prices.get(p.symbol)) for p in rows]
    try:
        snapshot = get_adapter(account).get_account()
    except BrokerError as exc:
        return AccountOverview(account, None, None, None, positions, str(exc))
    return AccountOverview(
        account, snapshot.equity, snapshot.cash, snapshot.buying_power, positions
    )


def _position_view(position: Position, price: Decimal | None) -> PositionView:
    value = pnl = None
    if price is not None:
        value = position.quantity * price
        pnl = (price - position.average_price) * position.quantity
    return PositionView(
        symbol=position.symbol,
        quantity=position.quantity,
        average_price=position.average_price,
        price=price,
        market_value=value,
        unrealized_pnl=pnl,
        realized_pnl=position.realized_pnl,
    )


def order_list_open(*, organization: Organization, account: BrokerAccount) -> QuerySet[Order]:
    return order_list(organization=organization, account=account, statuses=OPEN_ORDER_STATUSES)


def fill_list_recent(
    *, organization: Organization, account: BrokerAccount, limit: int = 20
) -> list[Order]:
    """The account's latest filled orders, newest fill first."""
    orders = Order.objects.for_org(organization).filter(account=account, status="filled")
    return list(orders.order_by("-filled_at")[:limit])


def order_list_pending_approval(*, organization: Organization) -> QuerySet[Order]:
    """Orders waiting for a person's decision, the soonest to expire first, with what the
    approval queue shows of each (account, signal, bracket legs)."""
    orders = order_list(organization=organization, statuses=[Order.Status.PENDING_APPROVAL])
    return (
        orders.filter(parent__isnull=True)
        .select_related("signal", "subscription__strategy")
        .prefetch_related("children")
        .order_by("approval_expires_at", "created_at")
    )


ORDER_PAGE_SIZE = 50


@dataclass(frozen=True)
class OrderFilters:
    """What a person may narrow the orders by; every value already validated."""

    account_id: uuid.UUID | None = None
    ticker: str = ""
    status: str = ""
    side: str = ""
    since: date | None = None
    until: date | None = None


@dataclass(frozen=True)
class OrderPage:
    orders: list[Order]
    next_cursor: str | None


def order_filtered(*, organization: Organization, filters: OrderFilters) -> QuerySet[Order]:
    """The organization's orders (bracket legs included) narrowed by ``filters``, newest
    first, with their account and strategy (one query, however many)."""
    orders = Order.objects.for_org(organization)
    if filters.account_id:
        orders = orders.filter(account_id=filters.account_id)
    if filters.ticker:
        orders = orders.filter(symbol=filters.ticker.strip().upper())
    if filters.status:
        orders = orders.filter(status=filters.status)
    if filters.side:
        orders = orders.filter(side=filters.side)
    orders = within_days(orders, field="created_at", since=filters.since, until=filters.until)
    return orders.select_related("account", "subscription__strategy").order_by("-created_at", "-id")


def order_list_page(
    *,
    organization: Organization,
    filters: OrderFilters = OrderFilters(),
    cursor: str | None = None,
    size: int = ORDER_PAGE_SIZE,
) -> OrderPage:
    """One page of orders after ``cursor``, keyset on (created_at, id) over the
    (organization, -created_at) index: never a count of the whole table."""
    orders = order_filtered(organization=organization, filters=filters)
    rows, next_cursor = keyset_page(orders, field="created_at", cursor=cursor, size=size)
    return OrderPage(rows, next_cursor)


POSITION_LIST_LIMIT = 200


def position_list_all(*, organization: Organization) -> list[Position]:
    """Open positions across every account (at most POSITION_LIST_LIMIT rows), with the
    account, by account then symbol."""
    positions = position_list(organization=organization).order_by("account__name", "symbol")
    return list(positions[:POSITION_LIST_LIMIT])
