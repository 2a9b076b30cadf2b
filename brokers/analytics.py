"""P&L analytics read from the ledger's fills (LedgerEntry), always scoped to an
organization first.

Everything is aggregated in SQL (one row per day, or one row in all), so the work of a
page does not grow with the number of fills. A *trade* is a fill that closed part of a
position (``closed_quantity > 0``); its P&L is what it realized against the position's
average price.

Equity over time is marked to market: at each day's end, the cash after the day's last
fill plus every open position valued at the last price the account filled that symbol
at (the paper market keeps only the current price of a symbol, so a fill is the only
price of a past day we know); the last point is the account's equity now, as its page
shows it (the broker's account snapshot: positions at the current market price). The
realized equity (initial cash plus realized P&L) is kept beside it.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.contrib.postgres.aggregates import ArrayAgg
from django.db.models import Case, Count, DecimalField, F, Q, QuerySet, Sum, Value, When
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from accounts.models import Organization
from brokers.adapters import get_adapter
from brokers.adapters.base import BrokerError
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
    equity: Decimal  # marked to market at the day's end (today: now)
    realized_equity: Decimal  # initial cash plus realized P&L at the day's end


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
    """Per day with fills in the last ``days`` days: realized P&L, equity marked to market
    and realized equity at its end; today (when the account has fills in the window) ends
    with its equity now. Aggregate queries only: the state before the window (realized
    total, cash, positions and their last prices), the window by day and by day x symbol,
    then the broker's snapshot."""
    start = _window_start(days)
    entries = _entries(organization).filter(account=account)
    earlier = entries.filter(filled_at__lt=start)
    realized = account.initial_cash + earlier.aggregate(total=_sum("realized_pnl"))["total"]
    cash = earlier.order_by("-filled_at", "-id").values_list("cash_after", flat=True).first()
    cash = account.initial_cash if cash is None else cash
    held, marks = {}, {}
    for row in _by_symbol(earlier.values("symbol")):
        held[row["symbol"]], marks[row["symbol"]] = row["net"], row["prices"][0]
    window = entries.filter(filled_at__gte=start).annotate(day=TruncDate("filled_at"))
    moves: dict = {}
    for row in _by_symbol(window.values("day", "symbol")):
        moves.setdefault(row["day"], []).append(row)
    rows = (
        window.values("day")
        .annotate(
            pnl=_sum("realized_pnl"),
            cash=ArrayAgg("cash_after", order_by=("-filled_at", "-id")),
        )
        .order_by("day")
    )
    curve = []
    for row in rows:  # at most ``days`` rows
        realized += row["pnl"]
        cash = row["cash"][0]
        for move in moves.get(row["day"], ()):
            symbol = move["symbol"]
            held[symbol] = held.get(symbol, ZERO) + move["net"]
            marks[symbol] = move["prices"][0]
        value = sum((qty * marks[symbol] for symbol, qty in held.items()), ZERO)
        curve.append(DayPnl(row["day"], row["pnl"], cash + value, realized))
    return _ending_now(account, curve)


def _by_symbol(rows):
    """Net signed quantity filled and the prices, latest first, per group of ``rows``."""
    signed = Case(When(side="buy", then=F("quantity")), default=-F("quantity"))
    return rows.annotate(
        net=Coalesce(Sum(signed), Value(ZERO), output_field=_MONEY_OUT),
        prices=ArrayAgg("price", order_by=("-filled_at", "-id")),
    ).order_by()


def _ending_now(account: BrokerAccount, curve: list[DayPnl]) -> list[DayPnl]:
    """Today's point is the equity now (what the account page shows: the market's current
    prices, not the last fills'); a point for today is added when it had no fill."""
    if not curve:
        return curve
    try:
        now = get_adapter(account).get_account().equity
    except BrokerError:  # the broker cannot be asked: the fills' marks stand
        return curve
    today = timezone.localdate()
    last = curve[-1]
    if last.day == today:
        return [*curve[:-1], DayPnl(today, last.realized_pnl, now, last.realized_equity)]
    return [*curve, DayPnl(today, ZERO, now, last.realized_equity)]


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
