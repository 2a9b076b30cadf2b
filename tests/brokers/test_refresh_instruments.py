"""refresh_instruments: the ticker database from a broker's asset list (Alpaca's stand-in
through alpaca-py, Binance's through ccxt), and ticker-does-not-exist following it."""

import json
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from brokers.instruments import instrument_asset_classes
from brokers.models import Instrument
from tests.factories import BrokerAccountFactory, InstrumentFactory, StrategyFactory
from tests.standins.binance import DEFAULT_MARKETS, BinanceStandIn
from tests.standins.exchange import StandInMarket
from webhooks.services import webhook_create, webhook_password

pytestmark = pytest.mark.django_db


def _post(client, webhook, ticker):
    path = f"/trading/webhook/{webhook.id}/{webhook_password(webhook=webhook)}"
    body = {"ticker": ticker, "action": "buy", "price": 10, "quantity": 1}
    return client.post(path, data=json.dumps(body), content_type="application/json")


def test_refresh_from_an_account_then_signals_follow(client, org, alpaca_account, alpaca_standin):
    webhook = webhook_create(organization=org, strategy=StrategyFactory(organization=org), name="w")
    assert _post(client, webhook, "NEWCO").json()["messageCode"] == "ticker-does-not-exist"
    alpaca_standin.add_asset("NEWCO", "NewCo Inc.", exchange="NYSE")
    call_command("refresh_instruments", "--account", str(alpaca_account.pk))
    newco = Instrument.objects.get(symbol="NEWCO")
    assert (newco.name, newco.exchange, newco.asset_class, newco.active) == (
        "NewCo Inc.", "NYSE", "stock", True,
    )  # fmt: skip
    assert Instrument.objects.get(symbol="BTCUSD", asset_class="crypto").quantity_step < 1
    assert _post(client, webhook, "NEWCO").status_code == 200


def test_prune_deactivates_what_the_broker_no_longer_lists(org, alpaca_account, alpaca_standin):
    InstrumentFactory(symbol="GONE", asset_class="stock")
    InstrumentFactory(symbol="ESZ2026", asset_class="future")  # not a class Alpaca lists
    call_command("refresh_instruments", "--broker", "alpaca")
    assert Instrument.objects.get(symbol="GONE").active  # without --prune: kept
    call_command("refresh_instruments", "--broker", "alpaca", "--prune")
    assert not Instrument.objects.get(symbol="GONE").active
    assert Instrument.objects.get(symbol="ESZ2026").active
    assert instrument_asset_classes(symbol="GONE") == frozenset()
    alpaca_standin.add_asset("HALTED", tradable=False)
    call_command("refresh_instruments", "--broker", "alpaca")
    assert not Instrument.objects.get(symbol="HALTED").active


def test_clear_errors(org, alpaca_account, alpaca_standin):
    with pytest.raises(CommandError, match="No broker account"):
        call_command("refresh_instruments", "--account", "not-an-id")
    alpaca_standin.stop()
    with pytest.raises(CommandError, match="unreachable"):
        call_command("refresh_instruments", "--account", str(alpaca_account.pk))


def test_no_account_to_ask(db):
    with pytest.raises(CommandError, match="No active alpaca account"):
        call_command("refresh_instruments", "--broker", "alpaca")


def test_refresh_from_an_exchange_through_ccxt(org, settings):
    # A crypto exchange's markets (the Binance stand-in, through ccxt) feed the same table:
    # a market the exchange adds becomes a ticker a signal may name, with its lot size.
    stand = BinanceStandIn(
        markets={
            **DEFAULT_MARKETS,
            "SOLUSDT": StandInMarket(
                base="SOL", quote="USDT", last=Decimal("150"), step=Decimal("0.001")
            ),
        }  # fmt: skip
    ).start()
    try:
        settings.CCXT_URLS = {"binance": stand.url, "binance:sandbox": stand.url + "/testnet"}
        BrokerAccountFactory(
            organization=org,
            broker="binance",
            mode="paper",
            credentials={"apiKey": stand.api_key, "secret": stand.secret},
        )
        call_command("refresh_instruments", "--broker", "binance")
    finally:
        stand.stop()
    sol = Instrument.objects.get(symbol="SOLUSDT")
    assert (sol.asset_class, sol.exchange, sol.quantity_step, sol.active) == (
        "crypto", "BINANCE", Decimal("0.001"), True,
    )  # fmt: skip
    assert instrument_asset_classes(symbol="SOLUSDT") == frozenset({"crypto"})
