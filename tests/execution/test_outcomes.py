"""One account's broker error is that account's result; the others' orders stand."""

from decimal import Decimal as D

import pytest
from rest_framework.test import APIClient

from brokers.models import BrokerAccount, Order, Position
from signals.models import Signal, SignalResult
from signals.tasks import process_signal
from tests.factories import BrokerAccountFactory, SubscriptionFactory
from tests.signals.factories import signal_for

pytestmark = pytest.mark.django_db


def test_an_account_without_an_adapter_fails_alone_with_broker_error(org, owner):
    paper = SubscriptionFactory(
        strategy__organization=org, use_signal_quantity=True, sizing_value=D("10")
    )
    unsupported = BrokerAccountFactory(organization=org, name="Elsewhere")
    # A broker kind no adapter speaks for (written past the model's choices on purpose).
    BrokerAccount.objects.filter(pk=unsupported.pk).update(broker="nosuchbroker")
    SubscriptionFactory(strategy=paper.strategy, account=unsupported, sizing_value=D("1"))
    signal = signal_for(strategy=paper.strategy, action="buy", price=100)

    process_signal.delay(str(signal.pk))

    signal.refresh_from_db()
    filled = Order.objects.get(signal=signal)
    assert filled.account_id == paper.account_id and filled.status == Order.Status.FILLED
    assert Position.objects.get(account=paper.account).quantity == 10
    mine = SignalResult.objects.get(signal=signal, account=paper.account)
    theirs = SignalResult.objects.get(signal=signal, account=unsupported)
    assert mine.status == SignalResult.Status.ORDERED
    assert theirs.status == SignalResult.Status.FAILED
    assert "not supported" in theirs.reason
    assert theirs.error_code == SignalResult.BROKER_ERROR
    # The signal is FAILED (an account failed) and names only that account.
    assert signal.status == Signal.Status.FAILED
    assert signal.error.startswith("Elsewhere: ") and "Paper" not in signal.error

    api = APIClient()
    api.force_login(owner)
    listed = api.get("/api/v1/signals/").json()["results"]
    assert [row["errorCode"] for row in listed] == ["BROKER_ERROR"]
    detail = api.get(f"/api/v1/signals/{signal.pk}/").json()
    assert detail["errorCode"] == "BROKER_ERROR"
    codes = {row["accountId"]: (row["status"], row["errorCode"]) for row in detail["results"]}
    assert codes[str(paper.account_id)] == ("ordered", None)
    assert codes[str(unsupported.pk)] == ("failed", "BROKER_ERROR")


def test_a_planning_failure_that_is_not_the_brokers_is_a_processing_error(org, owner):
    sub = SubscriptionFactory(strategy__organization=org, sizing_value=D("10"))
    # A quantity the Order columns cannot hold fails the account with the planner's
    # reason, before any broker is asked.
    signal = signal_for(strategy=sub.strategy, action="buy", price=100, quantity=D("1e30"))
    process_signal.delay(str(signal.pk))
    signal.refresh_from_db()
    result = SignalResult.objects.get(signal=signal)
    assert result.status == SignalResult.Status.FAILED and result.error_code == ""
    api = APIClient()
    api.force_login(owner)
    detail = api.get(f"/api/v1/signals/{signal.pk}/").json()
    assert detail["errorCode"] == "PROCESSING_ERROR"
    assert detail["results"][0]["errorCode"] == "PROCESSING_ERROR"
