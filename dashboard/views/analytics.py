"""P&L pictures: an account's equity (marked to market) and P&L by day, a strategy's trades with
win rate and profit factor. The numbers come from brokers.analytics (aggregate SQL);
each chart has the same numbers in a table."""

from django.shortcuts import render
from django.views.decorators.http import require_safe

from brokers.analytics import (
    TRADE_LIST_SIZE,
    account_daily_pnl,
    strategy_daily_pnl,
    strategy_performance,
    strategy_trades,
)
from brokers.selectors import broker_account_get
from dashboard.access import dashboard_view
from dashboard.views import found
from strategies.selectors import strategy_get


@dashboard_view()
@require_safe  # read-only pages: a POST is 405, never a silent re-render
def account_performance(request, account_id):
    organization = request.tenant.organization
    account = found(broker_account_get, organization=organization, account_id=account_id)
    days = account_daily_pnl(organization=organization, account=account)
    chart = {
        "days": [day.day.isoformat() for day in days],
        "equity": [float(day.equity) for day in days],
        "realized_equity": [float(day.realized_equity) for day in days],
        "pnl": [float(day.realized_pnl) for day in days],
    }
    context = {"account": account, "days": days, "chart": chart}
    return render(request, "dashboard/account_performance.html", context)


@dashboard_view()
@require_safe  # read-only pages: a POST is 405, never a silent re-render
def strategy_performance_view(request, strategy_id):
    organization = request.tenant.organization
    strategy = found(strategy_get, organization=organization, strategy_id=strategy_id)
    days = strategy_daily_pnl(organization=organization, strategy=strategy)
    trades = strategy_trades(organization=organization, strategy=strategy)
    context = {
        "strategy": strategy,
        "performance": strategy_performance(organization=organization, strategy=strategy),
        "days": days,
        "chart": {"days": [d.isoformat() for d, _ in days], "pnl": [float(p) for _, p in days]},
        "trades": list(trades[:TRADE_LIST_SIZE]),
        "trade_list_size": TRADE_LIST_SIZE,
    }
    return render(request, "dashboard/strategy_performance.html", context)
