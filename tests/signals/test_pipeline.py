"""The pipeline against the real database and the paper broker: fan-out, outcomes,
timings, failures, exactly-once under reruns, crashes and retries."""

from decimal import Decimal as D

import pytest

from brokers.models import BrokerAccount, Order, PaperOrder, Position
from signals.models import Signal, SignalResult
from signals.pipeline import client_order_id_for, signal_process
from signals.tasks import process_signal
from tests.factories import BrokerAccountFactory, InstrumentFactory, SubscriptionFactory
from tests.signals.adapters import FlakyAdapter, use_adapter
from tests.signals.factories import signal_for

pytestmark = pytest.mark.django_db


def _run(signal: Signal) -> Signal:
    process_signal.delay(str(signal.pk))
    signal.refresh_from_db()
    return signal


def _position(account, symbol="AAPL") -> D:
    row = Position.objects.filter(account=account, symbol=symbol).first()
    return row.quantity if row else D("0")


def _result(signal, account) -> SignalResult:
    return SignalResult.objects.get(signal=signal, account=account)


@pytest.fixture
def sub(org):
    return SubscriptionFactory(
        strategy__organization=org, use_signal_quantity=True, sizing_value=D("10")
    )


def test_buy_fans_out_to_every_enabled_subscription(sub, org):
    second = SubscriptionFactory(
        strategy=sub.strategy, sizing_value=D("3"), use_signal_quantity=False
    )
    paused = SubscriptionFactory(strategy=sub.strategy, enabled=False)
    signal = _run(signal_for(strategy=sub.strategy, action="buy", price=100))

    assert signal.status == Signal.Status.COMPLETED and signal.error == ""
    assert _position(sub.account) == 10 and _position(second.account) == 3
    assert _position(paused.account) == 0
    assert not Order.objects.filter(account=paused.account).exists()
    assert not SignalResult.objects.filter(account=paused.account).exists()
    order = Order.objects.get(account=sub.account)
    assert (order.status, order.filled_quantity, order.filled_avg_price) == ("filled", 10, 100)
    assert order.client_order_id == client_order_id_for(
        signal_id=signal.pk, target_key=str(sub.pk), leg="entry"
    )
    assert len(order.client_order_id) <= 48
    assert _result(signal, sub.account).status == SignalResult.Status.ORDERED
    assert signal.received_at <= signal.planned_at <= signal.submitted_at <= signal.completed_at
    assert signal.filled_at is not None


def test_a_signal_that_means_nothing_is_ignored_with_a_reason(sub):
    _run(signal_for(strategy=sub.strategy, action="buy", price=100))
    signal = _run(signal_for(strategy=sub.strategy, action="buy", price=101))

    assert signal.status == Signal.Status.COMPLETED
    result = _result(signal, sub.account)
    assert (result.status, result.reason) == ("ignored", "already long and adding is off")
    assert not Order.objects.filter(signal=signal).exists()
    assert _position(sub.account) == 10


def test_exit_when_flat_is_ignored(sub):
    signal = _run(signal_for(strategy=sub.strategy, action="exit", price=100))
    assert _result(signal, sub.account).reason == "no position to exit"
    assert not Order.objects.exists()


def test_reversal_closes_the_short_before_opening_the_long(sub):
    _run(signal_for(strategy=sub.strategy, action="sell", price=100, quantity=20))
    assert _position(sub.account) == -20
    signal = _run(signal_for(strategy=sub.strategy, action="buy", price=90, quantity=5))

    exit_, entry = (Order.objects.get(signal=signal, leg=leg) for leg in ("exit", "entry"))
    assert (exit_.side, exit_.quantity, exit_.status) == ("buy", 20, "filled")
    assert (entry.side, entry.quantity, entry.status) == ("buy", 5, "filled")
    assert exit_.filled_at <= entry.filled_at
    assert _position(sub.account) == 5
    assert _result(signal, sub.account).reason == "buy 20 (exit); buy 5 (entry)"


def test_no_price_available_is_a_visible_failure(sub):
    signal = _run(signal_for(strategy=sub.strategy, action="buy", ticker="NOPRICE"))

    assert signal.status == Signal.Status.FAILED
    assert "No price available for NOPRICE" in signal.error
    order = Order.objects.get(signal=signal)
    assert order.status == Order.Status.FAILED and "No price available for NOPRICE" in order.error
    result = _result(signal, sub.account)
    assert result.status == SignalResult.Status.FAILED and "NOPRICE" in result.reason
    assert _position(sub.account, "NOPRICE") == 0


def test_sizing_that_needs_a_price_fails_in_planning_without_an_order(sub):
    sub.use_signal_quantity, sub.sizing_method, sub.sizing_value = False, "dollar_amount", 1000
    sub.save()
    signal = _run(signal_for(strategy=sub.strategy, action="buy", ticker="NOPRICE"))
    assert signal.status == Signal.Status.FAILED
    assert _result(signal, sub.account).reason.startswith("No price available for NOPRICE")
    assert not Order.objects.exists()


def test_the_broker_quote_prices_a_signal_without_a_price(sub):
    sub.use_signal_quantity, sub.sizing_method, sub.sizing_value = False, "dollar_amount", 1000
    sub.save()
    _run(signal_for(strategy=sub.strategy, action="cancel", price=50))  # sets the last price
    _run(signal_for(strategy=sub.strategy, action="buy"))
    assert _position(sub.account) == 20


def test_signal_price_fills_resting_orders_before_planning(sub):
    _run(
        signal_for(
            strategy=sub.strategy, action="buy", price=100, order_type="limit", limit_price=90
        )
    )
    resting = Order.objects.get()
    assert resting.status == Order.Status.OPEN and _position(sub.account) == 0

    signal = _run(signal_for(strategy=sub.strategy, action="buy", price=89))

    resting.refresh_from_db()
    assert resting.status == Order.Status.FILLED and resting.filled_avg_price == 90
    assert _result(signal, sub.account).reason == "already long and adding is off"
    assert _position(sub.account) == 10


def test_cancel_cancels_the_tickers_open_orders(sub):
    _run(
        signal_for(
            strategy=sub.strategy, action="buy", price=100, order_type="limit", limit_price=90
        )
    )
    signal = _run(signal_for(strategy=sub.strategy, action="cancel"))

    assert Order.objects.get(signal__action="buy").status == Order.Status.CANCELED
    assert _result(signal, sub.account).reason == "canceled 1 open order(s) in AAPL"
    again = _run(signal_for(strategy=sub.strategy, action="cancel"))
    assert _result(again, sub.account).status == SignalResult.Status.IGNORED


def test_bracket_legs_rest_after_the_entry_and_an_exit_cancels_them(sub):
    sub.take_profit_kind, sub.take_profit_value = "percent", 10
    sub.stop_loss_kind, sub.stop_loss_value = "amount", 5
    sub.save()
    entry_signal = _run(signal_for(strategy=sub.strategy, action="buy", price=100))
    legs = {o.leg: o for o in Order.objects.filter(signal=entry_signal).exclude(leg="entry")}
    assert legs["take_profit"].limit_price == 110 and legs["stop_loss"].stop_price == 95
    assert {o.status for o in legs.values()} == {Order.Status.OPEN}

    _run(signal_for(strategy=sub.strategy, action="exit", price=101))

    assert {o.status for o in Order.objects.filter(pk__in=[o.pk for o in legs.values()])} == {
        Order.Status.CANCELED
    }
    assert _position(sub.account) == 0
    _run(signal_for(strategy=sub.strategy, action="cancel", price=80))  # below the old stop
    assert _position(sub.account) == 0


def test_utm_signal_goes_to_the_named_account_only(org, sub):
    account = BrokerAccountFactory(organization=org)
    signal = _run(signal_for(account=account, action="open_long", price=10, quantity=7))

    assert signal.status == Signal.Status.COMPLETED
    assert _position(account) == 7
    assert not Order.objects.filter(account=sub.account).exists()
    again = _run(signal_for(account=account, action="open_long", price=10, quantity=3))
    assert again.status == Signal.Status.COMPLETED and _position(account) == 10


def test_utm_signal_for_another_tenants_account_touches_nothing(org, other_org):
    foreign = BrokerAccountFactory(organization=other_org)
    signal = signal_for(organization=org, account=foreign, action="open_long", price=10, quantity=7)
    signal = _run(signal)
    assert not Order.objects.exists() and not SignalResult.objects.exists()
    assert _position(foreign) == 0
    assert signal.status == Signal.Status.COMPLETED and "No enabled subscription" in signal.error


def test_disabled_account_is_ignored_with_a_reason(sub):
    BrokerAccount.objects.filter(pk=sub.account_id).update(status="disabled")
    signal = _run(signal_for(strategy=sub.strategy, action="buy", price=100))
    assert "is disabled" in _result(signal, sub.account).reason
    assert not Order.objects.exists()


def test_max_position_size_reduces_the_entry(sub):
    sub.max_position_size = D("4")
    sub.save()
    signal = _run(signal_for(strategy=sub.strategy, action="buy", price=100))
    assert _position(sub.account) == 4
    assert "maximum position size 4 caps the entry" in _result(signal, sub.account).reason


# -- exactly once -------------------------------------------------------------------------


def test_running_the_task_twice_places_one_order(sub):
    signal = signal_for(strategy=sub.strategy, action="buy", price=100)
    _run(signal)
    _run(signal)
    Signal.objects.filter(pk=signal.pk).update(status=Signal.Status.PROCESSING)  # redelivered
    _run(signal)

    assert Order.objects.count() == 1 and PaperOrder.objects.count() == 1
    assert _position(sub.account) == 10
    assert SignalResult.objects.count() == 1


class WorkerKilled(BaseException):
    """Stands for SIGKILL: not an Exception, so nothing in the pipeline catches it."""


def test_crash_after_persisting_before_submitting_resumes_with_the_same_order(monkeypatch, sub):
    signal = signal_for(strategy=sub.strategy, action="buy", price=100)

    def killed(run):
        raise WorkerKilled

    with monkeypatch.context() as patch:
        patch.setattr("signals.pipeline._submit_all", killed)
        with pytest.raises(WorkerKilled):
            signal_process(signal_id=signal.pk)
    persisted = Order.objects.get()
    assert persisted.status == Order.Status.SUBMITTING and not PaperOrder.objects.exists()
    signal.refresh_from_db()
    assert signal.status == Signal.Status.PROCESSING

    signal = _run(signal)  # the redelivered message

    assert signal.status == Signal.Status.COMPLETED and signal.attempts == 2
    assert signal.planned_at is not None
    assert Order.objects.get().pk == persisted.pk
    assert PaperOrder.objects.count() == 1 and _position(sub.account) == 10
    assert SignalResult.objects.get().status == SignalResult.Status.ORDERED


def test_crash_after_the_broker_accepted_does_not_place_a_second_order(sub):
    signal = signal_for(strategy=sub.strategy, action="buy", price=100)
    _run(signal)
    # As if the worker died after the broker filled it but before our rows were updated.
    order = Order.objects.get()
    Order.objects.filter(pk=order.pk).update(status=Order.Status.NEW, filled_quantity=0)
    Signal.objects.filter(pk=signal.pk).update(status=Signal.Status.PROCESSING)

    signal = _run(signal)

    assert PaperOrder.objects.count() == 1 and _position(sub.account) == 10
    order.refresh_from_db()
    assert order.status == Order.Status.FILLED and signal.status == Signal.Status.COMPLETED


@pytest.mark.parametrize("after_placing", [False, True])
def test_transient_broker_errors_are_retried_to_exactly_one_fill(monkeypatch, sub, after_placing):
    use_adapter(monkeypatch, sub.account, FlakyAdapter, failures=2, after_placing=after_placing)
    signal = _run(signal_for(strategy=sub.strategy, action="buy", price=100))

    assert FlakyAdapter.calls == 3
    assert signal.status == Signal.Status.COMPLETED and signal.attempts == 3
    assert Order.objects.get().status == Order.Status.FILLED
    assert PaperOrder.objects.count() == 1 and _position(sub.account) == 10


def test_transient_errors_past_the_cap_end_in_a_visible_failure(monkeypatch, settings, sub):
    use_adapter(monkeypatch, sub.account, FlakyAdapter, failures=99)
    signal = _run(signal_for(strategy=sub.strategy, action="buy", price=100))

    assert FlakyAdapter.calls == settings.SIGNAL_MAX_ATTEMPTS
    assert signal.status == Signal.Status.FAILED
    assert "Broker unavailable after 5 attempts" in signal.error
    order = Order.objects.get()
    assert order.status == Order.Status.FAILED and "503" in order.error
    assert _result(signal, sub.account).status == SignalResult.Status.FAILED
    assert not PaperOrder.objects.exists()


def test_an_order_the_broker_rejects_ends_rejected_with_its_reason(sub):
    signal = _run(
        signal_for(
            strategy=sub.strategy, action="buy", price=100, order_type="limit", limit_price=-5
        )
    )
    order = Order.objects.get(signal=signal)
    assert order.status == Order.Status.REJECTED and order.error.startswith("Order rejected")
    assert _result(signal, sub.account).status == SignalResult.Status.FAILED
    assert signal.status == Signal.Status.FAILED and not PaperOrder.objects.exists()


def test_a_failed_exit_stops_the_entry_of_a_reversal(monkeypatch, sub):
    _run(signal_for(strategy=sub.strategy, action="sell", price=100, quantity=20))
    signal = _run(
        signal_for(strategy=sub.strategy, action="buy", price=100, order_type="stop", stop_price=-1)
    )
    exit_, entry = (Order.objects.get(signal=signal, leg=leg) for leg in ("exit", "entry"))
    assert (exit_.status, entry.status) == (Order.Status.REJECTED, Order.Status.FAILED)
    assert entry.error == "Not sent: the exit order before it failed."
    assert _position(sub.account) == -20


# -- arrival order -------------------------------------------------------------------------


def test_a_later_signals_task_processes_the_earlier_one_first(sub):
    first = signal_for(strategy=sub.strategy, action="buy", price=100)
    second = signal_for(strategy=sub.strategy, action="exit", price=101)

    _run(second)  # its task ran first (another worker was slower to pick up the first)

    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == second.status == Signal.Status.COMPLETED
    assert _result(second, sub.account).status == SignalResult.Status.ORDERED
    assert _position(sub.account) == 0
    assert first.completed_at <= second.planned_at
    _run(first)  # its own task arrives late: nothing more happens
    assert Order.objects.count() == 2


def test_a_signal_whose_worker_always_dies_ends_failed_after_the_cap(settings, sub):
    signal = signal_for(strategy=sub.strategy, action="buy", price=100)
    Signal.objects.filter(pk=signal.pk).update(
        status=Signal.Status.PROCESSING, attempts=settings.SIGNAL_MAX_ATTEMPTS
    )

    signal = _run(signal)

    assert signal.status == Signal.Status.FAILED
    assert signal.error.startswith("Gave up after 5 attempts")
    assert not Order.objects.exists() and not PaperOrder.objects.exists()


def test_quantity_is_rounded_to_the_instruments_lot_step(org):
    InstrumentFactory(symbol="BTCUSD", asset_class="crypto", quantity_step=D("0.001"))
    sub = SubscriptionFactory(
        strategy__organization=org,
        strategy__asset_class="crypto",
        use_signal_quantity=False,
        sizing_method="dollar_amount",
        sizing_value=D("100"),
    )
    signal = _run(signal_for(strategy=sub.strategy, action="buy", ticker="BTCUSD", price=30000))
    assert Order.objects.get(signal=signal).quantity == D("0.003")  # 100 / 30000, rounded down
    assert _position(sub.account, "BTCUSD") == D("0.003")
