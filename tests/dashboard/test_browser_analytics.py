"""The orders page and the P&L pages in real headless Chromium, as test_browser.py checks
the others: axe-core finds no serious or critical violation, no JavaScript error (the
charts draw), nothing wider than 390 px; screenshots at 1280 and 390 wide
(UPDATE_SCREENSHOTS=1 writes them to docs/screenshots/)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from brokers.models import LedgerEntry
from tests.dashboard.test_browser import PASSWORD, _check, _folder, tenant  # noqa: F401
from tests.dashboard.test_orders import make_orders
from tests.factories import BrokerAccountFactory

pytestmark = pytest.mark.django_db(transaction=True)

# Three weeks of a strategy's closing fills: a realistic picture, not an empty chart.
DAILY_PNL = [120, -45, 80, 0, 35, -60, 150, 40, -20, 95, -110, 60, 25, 70, -35, 55, 10, -15, 90]


@pytest.fixture
def history(tenant):  # noqa: F811  (the fixture imported above)
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
            filled_avg_price=Decimal("190"),
            filled_at=day,
        )[0]
        for day in days
    ]
    LedgerEntry.objects.bulk_create(
        LedgerEntry(
            organization_id=account.organization_id,
            account=account,
            client_order_id=order.client_order_id,
            symbol="AAPL",
            side="sell",
            quantity=Decimal("1"),
            price=Decimal("190"),
            closed_quantity=Decimal("1"),
            realized_pnl=Decimal(pnl),
            cash_after=account.cash,
            filled_at=day,
        )
        for order, pnl, day in zip(orders, DAILY_PNL, days, strict=True)
    )
    live = BrokerAccountFactory(
        organization=account.organization, name="Live broker", broker="alpaca", mode="live"
    )
    make_orders(live, 2, symbol="MSFT", status="canceled")
    return tenant


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
    assert problems == []
    assert page.js_errors == []
