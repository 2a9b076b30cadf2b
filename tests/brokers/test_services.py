from decimal import Decimal

import pytest

from brokers.adapters import ADAPTERS, get_adapter
from brokers.adapters.alpaca import AlpacaAdapter
from brokers.adapters.base import BracketSpec, BrokerError, OrderUpdate
from brokers.adapters.paper import PaperAdapter
from brokers.models import BrokerAccount, Order, PaperOrder, Position
from brokers.services import broker_account_create, broker_account_update
from execution.orders import account_cancel_open_orders, paper_account_reset
from execution.records import order_apply_update
from tests.brokers.factories import OrderFactory, order_request
from tests.factories import BrokerAccountFactory

pytestmark = pytest.mark.django_db
D = Decimal


def _request_for(order: Order, **more):
    return order_request(
        client_order_id=order.client_order_id,
        symbol=order.symbol,
        side=order.side,
        quantity=order.quantity,
        **more,
    )


def test_apply_update_records_the_fill(account, paper):
    order = OrderFactory(account=account)
    update = paper.submit_order(_request_for(order, reference_price="100"))
    result = order_apply_update(update=update)
    order.refresh_from_db()
    assert result == order
    assert (order.status, order.filled_quantity, order.filled_avg_price) == (
        "filled",
        D("10"),
        D("100"),
    )
    assert order.broker_order_id == update.broker_order_id
    assert order.filled_at == update.filled_at
    assert order.submitted_at is not None


def test_apply_update_is_idempotent_and_never_goes_backwards(account):
    order = OrderFactory(account=account)
    filled = OrderUpdate(
        client_order_id=order.client_order_id,
        broker_order_id="b-1",
        status="filled",
        filled_quantity=D("10"),
        filled_avg_price=D("101"),
    )
    order_apply_update(update=filled)
    order.refresh_from_db()
    first_filled_at, first_updated_at = order.filled_at, order.updated_at
    order_apply_update(update=filled)
    late_open = OrderUpdate(
        client_order_id=order.client_order_id, broker_order_id="b-1", status="open"
    )
    order_apply_update(update=late_open)
    order.refresh_from_db()
    assert (order.status, order.filled_quantity, order.filled_avg_price) == (
        "filled",
        D("10"),
        D("101"),
    )
    assert order.filled_at == first_filled_at
    assert order.updated_at == first_updated_at  # nothing was written again


def test_partial_fills_only_grow(account):
    order = OrderFactory(account=account)
    for quantity in ("3", "7", "5"):
        order_apply_update(
            update=OrderUpdate(
                client_order_id=order.client_order_id,
                broker_order_id="b",
                status="partially_filled",
                filled_quantity=D(quantity),
            )
        )
    order.refresh_from_db()
    assert (order.status, order.filled_quantity) == ("partially_filled", D("7"))


def test_apply_update_carries_the_broker_error(account):
    order = OrderFactory(account=account)
    order_apply_update(
        update=OrderUpdate(
            client_order_id=order.client_order_id,
            broker_order_id="",
            status="rejected",
            error="insufficient buying power",
        )
    )
    order.refresh_from_db()
    assert (order.status, order.error) == ("rejected", "insufficient buying power")


def test_apply_update_for_an_unknown_order_changes_nothing(account):
    OrderFactory(account=account)
    update = OrderUpdate(client_order_id="unknown", broker_order_id="x", status="filled")
    assert order_apply_update(update=update) is None
    assert not Order.objects.filter(status="filled").exists()


def test_apply_update_scoped_to_an_account_ignores_another_accounts_order(account, org):
    order = OrderFactory(account=account)
    other = BrokerAccountFactory(organization=org)
    update = OrderUpdate(
        client_order_id=order.client_order_id, broker_order_id="x", status="filled"
    )
    assert order_apply_update(update=update, account=other) is None
    order.refresh_from_db()
    assert order.status == "new"


@pytest.mark.parametrize("unknown_status", ["done_for_day", "", "FILLED"])
def test_an_unknown_status_changes_nothing(account, unknown_status):
    order = OrderFactory(account=account)
    order_apply_update(
        update=OrderUpdate(
            client_order_id=order.client_order_id, broker_order_id="x", status=unknown_status
        )
    )
    order.refresh_from_db()
    assert order.status == "new"


def test_bracket_legs_become_child_orders_and_follow_the_ledger(account, paper):
    entry = OrderFactory(account=account)
    bracket = BracketSpec(take_profit_limit_price=D("110"), stop_loss_stop_price=D("95"))
    order_apply_update(
        update=paper.submit_order(_request_for(entry, reference_price="100", bracket=bracket))
    )
    legs = {leg.leg: leg for leg in entry.children.all()}
    assert set(legs) == {"take_profit", "stop_loss"}
    take = legs["take_profit"]
    assert (take.status, take.side, take.order_type, take.limit_price, take.quantity) == (
        "open",
        "sell",
        "limit",
        D("110"),
        D("10"),
    )
    assert take.organization_id == entry.organization_id
    for update in paper.record_price("AAPL", D("94")):
        order_apply_update(update=update, account=account)
    statuses = dict(entry.children.values_list("leg", "status"))
    assert statuses == {"take_profit": "canceled", "stop_loss": "filled"}
    # replaying the same updates creates nothing new
    order_apply_update(update=paper.get_order(entry.client_order_id))
    assert entry.children.count() == 2


def test_a_leg_the_pipeline_planned_takes_the_brokers_client_id(account, paper):
    entry = OrderFactory(account=account)
    planned = OrderFactory(
        account=account, parent=entry, leg="take_profit", side="sell", order_type="limit"
    )
    bracket = BracketSpec(take_profit_limit_price=D("110"))
    order_apply_update(
        update=paper.submit_order(_request_for(entry, reference_price="100", bracket=bracket))
    )
    planned.refresh_from_db()
    assert planned.client_order_id == f"{entry.client_order_id}-tp"
    assert planned.status == "open"
    assert entry.children.count() == 1


def test_account_cancel_open_orders_cancels_our_rows_too(account, paper):
    paper.record_price("AAPL", D("100"))
    resting = OrderFactory(account=account, order_type="limit", limit_price=D("90"))
    order_apply_update(
        update=paper.submit_order(_request_for(resting, order_type="limit", limit_price="90"))
    )
    filled = OrderFactory(account=account)
    order_apply_update(update=paper.submit_order(_request_for(filled)))
    assert account_cancel_open_orders(account=account, symbol="AAPL") == 1
    resting.refresh_from_db()
    filled.refresh_from_db()
    assert (resting.status, resting.error) == ("canceled", "Canceled.")
    assert filled.status == "filled"
    assert paper.record_price("AAPL", D("80")) == []


def test_paper_account_reset(account, paper):
    paper.submit_order(order_request(quantity="10", reference_price="100"))
    resting = OrderFactory(account=account)
    order_apply_update(
        update=paper.submit_order(_request_for(resting, order_type="limit", limit_price="50"))
    )
    BrokerAccount.objects.filter(pk=account.pk).update(initial_cash=D("25000"))
    account.refresh_from_db()
    paper_account_reset(account=account)
    account.refresh_from_db()
    resting.refresh_from_db()
    assert account.cash == D("25000")
    assert not Position.objects.filter(account=account).exists()
    assert not PaperOrder.objects.filter(account=account, status__in=["open", "held"]).exists()
    assert resting.status == "canceled"
    assert paper.record_price("AAPL", D("40")) == []
    assert paper.get_account().equity == D("25000")


def test_only_paper_accounts_reset(org):
    live = BrokerAccountFactory(organization=org, broker="alpaca", cash=D("5"))
    with pytest.raises(BrokerError, match="Only paper accounts"):
        paper_account_reset(account=live)
    live.refresh_from_db()
    assert live.cash == D("5")


def test_reset_leaves_other_accounts_alone(account, paper, org):
    neighbour = PaperAdapter(BrokerAccountFactory(organization=org))
    neighbour.submit_order(order_request(reference_price="100"))
    paper_account_reset(account=account)
    assert neighbour.get_position("AAPL").quantity == D("10")


def test_get_adapter_knows_paper_and_alpaca_and_refuses_the_rest(org):
    assert isinstance(get_adapter(BrokerAccountFactory(organization=org)), PaperAdapter)
    alpaca = BrokerAccountFactory(organization=org, broker="alpaca", name="Main")
    assert isinstance(get_adapter(alpaca), AlpacaAdapter)
    unknown = BrokerAccountFactory(organization=org, broker="nowhere", name="Main")
    with pytest.raises(BrokerError, match="'nowhere' broker is not supported") as caught:
        get_adapter(unknown)
    assert not caught.value.transient


def test_every_broker_choice_has_an_adapter():
    # No broker kind may be offered that does not work.
    assert set(BrokerAccount.Broker.values) <= set(ADAPTERS)


def test_an_alpaca_account_without_its_key_and_secret_never_trades(org):
    lacking = broker_account_create(
        organization=org, name="A", broker="alpaca", credentials={"api_key": "PK1"}
    )
    assert lacking.status == "error"
    assert lacking.status_message == "Credentials missing: Secret key."
    complete = broker_account_update(
        account=lacking, credentials={"api_key": "PK1", "secret_key": "s3"}
    )
    assert (complete.status, complete.status_message) == ("active", "")
    renamed = broker_account_update(account=complete, name="B")  # keeps its credentials
    assert renamed.credentials == {"api_key": "PK1", "secret_key": "s3"}
    assert renamed.status == "active"
    paper = broker_account_create(organization=org, name="P")
    assert paper.status == "active"
    moved = broker_account_update(account=paper, broker="alpaca")
    assert moved.status == "error" and "API key ID, Secret key" in moved.status_message
