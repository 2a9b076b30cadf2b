"""Every fill the paper ledger applies is kept as a LedgerEntry (what it closed, the P&L
it realized, the cash after it), in the same transaction as the cash and position: the
history the P&L analytics read. A resting order's later fill is recorded too, and a
reset starts the history over."""

from decimal import Decimal

import pytest

from brokers.models import BrokerAccount, LedgerEntry
from execution.orders import paper_account_reset
from tests.brokers.factories import order_request

D = Decimal
pytestmark = pytest.mark.django_db


def _entries(account) -> list[tuple]:
    rows = LedgerEntry.objects.filter(account=account).order_by("id")
    return [(e.side, e.quantity, e.price, e.closed_quantity, e.realized_pnl) for e in rows]


def test_each_fill_is_recorded_with_what_it_realized(paper, account):
    requests = [
        order_request(side="buy", quantity="10", reference_price="100"),
        order_request(side="sell", quantity="4", reference_price="110"),
        order_request(side="sell", quantity="10", reference_price="90"),  # flips to short 4
    ]
    for request in requests:
        paper.submit_order(request)
    assert _entries(account) == [
        ("buy", 10, 100, 0, 0),
        ("sell", 4, 110, 4, 40),
        ("sell", 10, 90, 6, -60),
    ]
    entries = LedgerEntry.objects.filter(account=account).order_by("id")
    assert [e.client_order_id for e in entries] == [r.client_order_id for r in requests]
    assert entries.last().cash_after == BrokerAccount.objects.get(pk=account.pk).cash
    assert {e.organization_id for e in entries} == {account.organization_id}


def test_a_resting_order_is_recorded_when_it_fills(paper, account):
    paper.submit_order(order_request(side="buy", quantity="5", reference_price="100"))
    resting = order_request(side="sell", quantity="5", order_type="limit", limit_price="120")
    paper.submit_order(resting)
    assert len(_entries(account)) == 1
    paper.record_price("AAPL", D("125"))
    last = LedgerEntry.objects.filter(account=account).order_by("id").last()
    assert (last.client_order_id, last.closed_quantity) == (resting.client_order_id, 5)
    assert last.realized_pnl == D("100")  # filled at its limit, 5 x (120 - 100)


def test_a_reset_starts_the_history_over(paper, account):
    paper.submit_order(order_request(side="buy", quantity="10", reference_price="100"))
    paper_account_reset(account=BrokerAccount.objects.get(pk=account.pk))
    assert _entries(account) == []
