"""The orders page and the P&L pages in real headless Chromium, as test_browser.py checks
the others: axe-core finds no serious or critical violation, no JavaScript error (the
charts draw), nothing wider than 390 px; screenshots at 1280 and 390 wide
(UPDATE_SCREENSHOTS=1 writes them to docs/screenshots/)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import F
from django.utils import timezone

from brokers.models import BrokerAccount, LedgerEntry
from tests.dashboard.test_browser import PASSWORD, _check, _folder, tenant  # noqa: F401
from tests.dashboard.test_orders import make_orders
from tests.factories import BrokerAccountFactory

pytestmark = pytest.mark.django_db(transaction=True)

# Three weeks of a strategy's closing fills: a realistic picture, not an empty chart.
DAILY_PNL = [120, -45, 80, 0, 35, -60, 150, 40, -20, 95, -110, 60, 25, 70, -35, 55, 10, -15, 90]


@pytest.fixture
def history(tenant):  # noqa: F811  (the fixture imported above)
    """A round trip a day for three weeks before today's real buy: bought at 190, sold
    at 190 + that day's P&L, the cash after each fill as the ledger keeps it; the
    account's cash (and today's fill) then carry the history's P&L, so every point of the
    equity curve is what the account held."""
    account, subscription = tenant["account"], tenant["subscription"]
    now = timezone.now()
    days = [now - timedelta(days=len(DAILY_PNL) - i) for i in range(len(DAILY_PNL))]
    orders = [
        make_orders(
            account,
            1,
            subscription=subscription,
            side="sell",
            start=day,
            filled_quantity=Decimal("1"),
            filled_avg_price=Decimal("190") + pnl,
            filled_at=day,
        )[0]
        for day, pnl in zip(days, DAILY_PNL, strict=True)
    ]
    cash, entries = account.initial_cash, []
    for order, pnl, day in zip(orders, DAILY_PNL, days, strict=True):
        cash -= Decimal("190")
        entries.append(_entry(account, "buy", Decimal("190"), cash, day, closed="0", pnl=0))
        cash += Decimal("190") + pnl
        entries.append(
            _entry(
                account,
                "sell",
                Decimal("190") + pnl,
                cash,
                day + timedelta(minutes=5),
                closed="1",
                pnl=pnl,
                client_order_id=order.client_order_id,
            )
        )
    LedgerEntry.objects.bulk_create(entries)
    earned = Decimal(sum(DAILY_PNL))
    BrokerAccount.objects.filter(pk=account.pk).update(cash=F("cash") + earned)
    today = LedgerEntry.objects.filter(account=account, filled_at__gte=now - timedelta(hours=1))
    today.update(cash_after=F("cash_after") + earned)
    live = BrokerAccountFactory(
        organization=account.organization, name="Live broker", broker="alpaca", mode="live"
    )
    make_orders(live, 2, symbol="MSFT", status="canceled")
    return tenant


def _entry(account, side, price, cash, at, *, closed, pnl, client_order_id=""):
    return LedgerEntry(
        organization_id=account.organization_id,
        account=account,
        client_order_id=client_order_id,
        symbol="AAPL",
        side=side,
        quantity=Decimal("1"),
        price=price,
        closed_quantity=Decimal(closed),
        realized_pnl=Decimal(pnl),
        cash_after=cash,
        filled_at=at,
    )


def test_analytics_pages(browser_page, history, tmp_path):
    page, folder, problems = browser_page, _folder(tmp_path), []
    page.goto("/accounts/login/")
    page.fill("input[name=login]", history["owner"].email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/")
    pages = {
        "orders": "/orders/",
        "account-performance": f"/broker-accounts/{history['account'].id}/performance/",
        "strategy-performance": f"/strategies/{history['strategy'].id}/performance/",
    }
    for name, path in pages.items():
        response = page.goto(path)
        assert response.status == 200, name
        if name != "orders":
            # Chart.js drew into every canvas (a blank canvas would pass axe silently).
            drawn = page.evaluate(
                "() => [...document.querySelectorAll('canvas[data-chart]')]"
                ".map(c => Chart.getChart(c) !== undefined)"
            )
            assert drawn and all(drawn), name
        problems += _check(page, name, folder)
        if name == "account-performance":
            # The curve's last point is the equity the account's page shows.
            last = page.evaluate(
                "() => JSON.parse(document.getElementById('performance-data').textContent)"
                ".equity.at(-1)"
            )
            page.goto(f"/broker-accounts/{history['account'].id}/")
            shown = page.locator(".stat .value").first.text_content()
            assert f"{last:.2f}" == shown
    assert problems == []
    assert page.js_errors == []
