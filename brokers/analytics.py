"""P&L analytics read from the ledger's fills (LedgerEntry), always scoped to an
organization first.

Everything is aggregated in SQL (one row per day, or one row in all), so the work of a
page does not grow with the number of fills. A *trade* is a fill that closed part of a
position (``closed_quantity > 0``); its P&L is what it realized against the position's
average price. Equity over time is *realized* equity (initial cash plus realized P&L at
each day's end): the paper market keeps only the last price of a symbol, so what open
positions were worth on a past day is not known and is not made up.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Count, DecimalField, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from accounts.models import Organization
from brokers.models import BrokerAccount, LedgerEntry, Order
from strategies.models import Strategy

ZERO = Decimal("0")
# How many days the charts cover, and how many trades a strategy's page lists.
ANALYTICS_DAYS = 90
TRADE_LIST_SIZE = 50
_MONEY_OUT = DecimalField(max_digits=30, decimal_places=8)


@dataclass(frozen=True)
class DayPnl:
    day: date
    realized_pnl: Decimal
    equity: Decimal  # realized equity at the day's end


@dataclass(frozen=True)
class Performance:
    trades: int
    wins: int
    losses: int
    gross_profit: Decimal
    gross_loss: Decimal  # negative or zero
    realized_pnl: Decimal

    @property
    def win_rate(self) -> Decimal | None:
        """Winning trades / trades, in percent; None before the first trade."""
        return None if not self.trades else Decimal(100 * self.wins) / self.trades

    @property
    def profit_factor(self) -> Decimal | None:
        """Gross profit / gross loss; None while nothing was lost (it would be infinite)."""
        return None if not self.gross_loss else self.gross_profit / -self.gross_loss


def account_daily_pnl(
    *, organization: Organization, account: BrokerAccount, days: int = ANALYTICS_DAYS
) -> list[DayPnl]:
    """Per day with fills in the last ``days`` days: realized P&L and realized equity at
    its end. Two aggregate queries (the total before the window, the window by day)."""
    start = _window_start(days)
    entries = _entries(organization).filter(account=account)
    before = entries.filter(filled_at__lt=start).aggregate(total=_sum("realized_pnl"))
    equity = account.initial_cash + before["total"]
    rows = (
        entries.filter(filled_at__gte=start)
        .annotate(day=TruncDate("filled_at"))
        .values("day")
        .annotate(pnl=_sum("realized_pnl"))
        .order_by("day")
    )
    curve = []
    for row in rows:  # at most ``days`` rows
        equity += row["pnl"]
        curve.append(DayPnl(row["day"], row["pnl"], equity))
    return curve


def strategy_trades(*, organization: Organization, strategy: Strategy) -> QuerySet[LedgerEntry]:
    """The strategy's trades (closing fills of its subscriptions' orders), newest first."""
    return (
        _strategy_entries(organization, strategy)
        .filter(closed_quantity__gt=0)
        .select_related("account")
        .order_by("-filled_at", "-id")
    )


def strategy_performance(*, organization: Organization, strategy: Strategy) -> Performance:
    """Trades, wins, losses, gross profit and loss of the strategy, in one aggregate query."""
    totals = strategy_trades(organization=organization, strategy=strategy).aggregate(
        trades=Count("id"),
        wins=Count("id", filter=Q(realized_pnl__gt=0)),
        losses=Count("id", filter=Q(realized_pnl__lt=0)),
        gross_profit=_sum("realized_pnl", filter=Q(realized_pnl__gt=0)),
        gross_loss=_sum("realized_pnl", filter=Q(realized_pnl__lt=0)),
        realized_pnl=_sum("realized_pnl"),
    )
    return Performance(**totals)


def strategy_daily_pnl(
    *, organization: Organization, strategy: Strategy, days: int = ANALYTICS_DAYS
) -> list[tuple[date, Decimal]]:
    rows = (
        _strategy_entries(organization, strategy)
        .filter(filled_at__gte=_window_start(days), closed_quantity__gt=0)
        .annotate(day=TruncDate("filled_at"))
        .values("day")
        .annotate(pnl=_sum("realized_pnl"))
        .order_by("day")
    )
    return [(row["day"], row["pnl"]) for row in rows]


def _window_start(days: int) -> datetime:
    """The start of the first of the last ``days`` days (today included), local time;
    a range on filled_at (not a date cast) so the (account, filled_at) index serves it."""
    first = timezone.localdate() - timedelta(days=days - 1)
    return timezone.make_aware(datetime.combine(first, time.min))


def _entries(organization: Organization) -> QuerySet[LedgerEntry]:
    return LedgerEntry.objects.for_org(organization)


def _strategy_entries(organization: Organization, strategy: Strategy) -> QuerySet[LedgerEntry]:
    # Fills name our order only by client_order_id (as a real broker's would).
    client_ids = (
        Order.objects.for_org(organization)
        .filter(subscription__strategy=strategy)
        .values("client_order_id")
    )
    return _entries(organization).filter(client_order_id__in=client_ids)


def _sum(field: str, **extra):
    return Coalesce(Sum(field, **extra), Value(ZERO), output_field=_MONEY_OUT)
