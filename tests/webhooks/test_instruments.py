import json

import pytest
from django.core.management import call_command

from brokers.instruments import FIXTURE_PATH, instrument_asset_classes, instruments_load
from brokers.models import Instrument

pytestmark = pytest.mark.django_db

SEED_TICKERS = ["AMD", "SQ", "TSLA", "AAPL"]


def test_fixture_covers_what_users_trade():
    rows = json.loads(FIXTURE_PATH.read_text())
    by_class = {}
    for row in rows:
        by_class.setdefault(row["asset_class"], set()).add(row["symbol"])
    assert len(by_class["stock"]) >= 500
    assert {"SPY", "QQQ", "IWM", "DIA", "TLT", "GLD", "SLV", "XLF"} <= by_class["stock"]
    assert set(SEED_TICKERS) <= by_class["stock"]
    roots = {"ES", "NQ", "YM", "RTY", "CL", "GC", "SI", "ZB", "ZN", "6E", "MES", "MNQ", "MYM"}
    assert roots | {"M2K", "MCL", "MGC", "ESZ2026", "MNQU2025", "NQ1!"} <= by_class["future"]
    assert {"BTCUSD", "ETHUSD", "SOLUSD", "BTCUSDT"} <= by_class["crypto"]


def test_load_is_idempotent_and_refreshes(tmp_path):
    assert instruments_load() == Instrument.objects.count() > 1000
    count = Instrument.objects.count()
    assert instruments_load() == count
    assert Instrument.objects.count() == count
    btc = Instrument.objects.get(symbol="BTCUSD", asset_class="crypto")
    assert btc.quantity_step < 1
    changed = tmp_path / "instruments.json"
    changed.write_text(
        json.dumps(
            [
                {"symbol": "BTCUSD", "asset_class": "crypto", "quantity_step": "0.001"},
                {"symbol": "newco", "asset_class": "stock", "exchange": "NYSE"},
            ]
        )
    )
    call_command("load_instruments", path=str(changed))
    btc.refresh_from_db()
    assert str(btc.quantity_step.normalize()) == "0.001"
    assert Instrument.objects.filter(symbol="NEWCO").exists()
    assert Instrument.objects.count() == count + 1


def test_load_clears_cached_misses():
    assert instrument_asset_classes(symbol="AMD") == frozenset()
    instruments_load()
    assert "stock" in instrument_asset_classes(symbol="AMD")


@pytest.mark.parametrize(
    ("symbol", "classes"),
    [
        ("AMD", {"stock", "option"}),
        ("SPY 250624C596", {"option"}),
        ("ESZ2026", {"future"}),
        ("ESZ2031", {"future"}),
        ("MNQU25", {"future"}),
        ("NQ1!", {"future"}),
        ("BTCUSD", {"crypto"}),
        ("BTC/USD", {"crypto"}),
        ("ZZZZ", set()),
        ("X" * 100, set()),
    ],
)
def test_asset_classes(symbol, classes):
    instruments_load()
    assert instrument_asset_classes(symbol=symbol) == frozenset(classes)


def test_inactive_instruments_do_not_exist():
    instruments_load()
    Instrument.objects.filter(symbol="AMD").update(active=False)
    assert instrument_asset_classes(symbol="AMD") == frozenset()
