from decimal import Decimal

import pytest

from brokers.models import BrokerAccount, Position
from brokers.selectors import (
    broker_account_get,
    broker_account_list,
    order_list,
    paper_price_get,
    position_list,
)
from tests.brokers.factories import OrderFactory, order_request
from tests.factories import BrokerAccountFactory

pytestmark = pytest.mark.django_db
D = Decimal


def test_another_tenants_account_does_not_exist(org, other_org, account):
    theirs = BrokerAccountFactory(organization=other_org)
    assert broker_account_get(organization=org, account_id=account.pk) == account
    with pytest.raises(BrokerAccount.DoesNotExist):
        broker_account_get(organization=org, account_id=theirs.pk)
    assert list(broker_account_list(organization=org)) == [account]


def test_position_list_shows_open_positions_of_the_tenant_only(org, other_org, paper):
    paper.submit_order(order_request(symbol="AAPL", reference_price="100"))
    paper.submit_order(order_request(symbol="MSFT", reference_price="100"))
    paper.submit_order(order_request(symbol="MSFT", side="sell", reference_price="100"))
    theirs = BrokerAccountFactory(organization=other_org)
    Position.objects.create(organization=other_org, account=theirs, symbol="TSLA", quantity=5)
    assert [p.symbol for p in position_list(organization=org)] == ["AAPL"]
    assert [p.symbol for p in position_list(organization=org, account=paper.account)] == ["AAPL"]
    assert [p.symbol for p in position_list(organization=other_org)] == ["TSLA"]


def test_order_list_is_scoped_and_filtered(org, other_org, account):
    mine = OrderFactory(account=account, status="filled")
    OrderFactory(account=account, status="open")
    OrderFactory(account=BrokerAccountFactory(organization=other_org))
    assert len(order_list(organization=org)) == 2
    assert list(order_list(organization=org, statuses=["filled"])) == [mine]


def test_paper_price_is_per_organization(org, other_org, paper):
    paper.record_price("AAPL", D("12.5"))
    assert paper_price_get(organization_id=org.pk, symbol="AAPL") == D("12.5")
    assert paper_price_get(organization_id=other_org.pk, symbol="AAPL") is None
