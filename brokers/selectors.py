"""Reads of broker data, always scoped to an organization first."""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import F, Q, QuerySet

from accounts.models import Organization
from brokers.models import (
    OPEN_ORDER_STATUSES,
    BrokerAccount,
    Order,
    PaperOrder,
    PaperPrice,
    Position,
    PositionDrift,
)
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


# -- the paper broker's hot reads ----------------------------------------------------------
# Each paper submission and priced signal runs these: compiled once per process
# (config.compiled; docs/benchmarks.md, "Statements compiled once per process").


def _may_act_at(price: Decimal) -> Q:
    """Resting orders a price can fill or change; the rest of the book is left unlocked.
    A superset of what _price_resting acts on: every trailing stop (its trail moves)."""
    buy, sell = Q(side="buy"), Q(side="sell")
    as_limit = Q(order_type="limit") | Q(order_type="stop_limit", triggered_at__isnull=False)
    as_stop = Q(order_type="stop") | Q(order_type="stop_limit", triggered_at__isnull=True)
    return (
        Q(order_type="trailing_stop")
        | (as_limit & ((buy & Q(limit_price__gte=price)) | (sell & Q(limit_price__lte=price))))
        | (as_stop & ((buy & Q(stop_price__lte=price)) | (sell & Q(stop_price__gte=price))))
    )


# Every priced signal asks this: compiled once per process (config.compiled).
_RESTING_ACCOUNTS = CompiledQuery(
    lambda organization_id, symbol, price: (
        PaperOrder.objects.filter(
            organization_id=organization_id, symbol=symbol, status=PaperOrder.Status.OPEN
        )
        .filter(_may_act_at(price))
        .values_list("account_id")
        .distinct()
    ),
    organization_id=uuid.UUID,
    symbol=str,
    price=Decimal,
)


# The reads of every paper submission, compiled once per process (config.compiled).
_POSITION = CompiledQuery(
    lambda account_id, symbol: Position.objects.filter(account_id=account_id, symbol=symbol)[:1],
    account_id=uuid.UUID,
    symbol=str,
)
_LOCK_ACCOUNT = CompiledQuery(
    lambda account_id: BrokerAccount.objects.select_for_update().filter(pk=account_id),
    account_id=uuid.UUID,
)
_FIND = CompiledQuery(
    lambda account_id, client_order_id: PaperOrder.objects.filter(
        account_id=account_id, client_order_id=client_order_id
    )[:1],
    account_id=uuid.UUID,
    client_order_id=str,
)


def position_get(*, account_id, symbol: str) -> Position | None:
    return _POSITION.first(account_id=account_id, symbol=symbol)


def paper_account_lock(*, account_id) -> BrokerAccount | None:
    """The account's row, locked (SELECT ... FOR UPDATE): the paper book's one lock."""
    return _LOCK_ACCOUNT.first(account_id=account_id)


def paper_order_find(*, account_id, client_order_id: str) -> PaperOrder | None:
    return _FIND.first(account_id=account_id, client_order_id=client_order_id)


def paper_resting_accounts(*, organization_id, symbol: str, price: Decimal) -> set:
    """The accounts with a resting order in ``symbol`` that ``price`` may fill or move."""
    rows = _RESTING_ACCOUNTS.rows(organization_id=organization_id, symbol=symbol, price=price)
    return {row[0] for row in rows}


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


def position_view(position: Position, price: Decimal | None) -> PositionView:
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


def position_drift_list(
    *, organization: Organization, account: BrokerAccount, limit: int = 200
) -> list[PositionDrift]:
    """Reconciliation's findings for one account: open ones first, then newest."""
    queryset = PositionDrift.objects.for_org(organization).filter(account=account)
    return list(
        queryset.order_by(F("resolved_at").desc(nulls_first=True), "-detected_at", "-id")[:limit]
    )


def position_drift_open_count(*, organization: Organization, account: BrokerAccount) -> int:
    queryset = PositionDrift.objects.for_org(organization).filter(account=account)
    return queryset.filter(resolved_at__isnull=True).count()
