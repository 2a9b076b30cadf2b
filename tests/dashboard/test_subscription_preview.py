"""The subscription page's preview: "what would a buy of 10 AAPL at 190 do in this
account right now?", planned by the pipeline's own code (signals.preview) with the
form's settings, saved or not. Nothing is written: no Signal, Order, result, paper order,
price or ledger row."""

from decimal import Decimal

import pytest

from accounts.models import Role
from brokers.models import LedgerEntry, Order, PaperOrder, PaperPrice, Position
from signals.models import Signal, SignalResult
from strategies.models import Subscription
from tests.dashboard.conftest import EVERYONE, expected_get, post_forms_in_main
from tests.dashboard.test_strategies import SUBSCRIPTION_FORM
from tests.factories import (
    BrokerAccountFactory,
    InstrumentFactory,
    StrategyFactory,
    SubscriptionFactory,
)
from webhooks.services import webhook_create, webhook_url

pytestmark = pytest.mark.django_db

SIGNAL = {
    "preview-ticker": "AAPL",
    "preview-action": "buy",
    "preview-quantity": "10",
    "preview-price": "190",
}
HTMX = {"HTTP_HX_REQUEST": "true"}
WRITTEN = (Signal, SignalResult, Order, PaperOrder, PaperPrice, Position, LedgerEntry)


def rows() -> dict:
    return {model.__name__: model.objects.count() for model in WRITTEN}


@pytest.fixture
def setup(org, client, django_capture_on_commit_callbacks):
    """An account long 3 AAPL at 180 through the real webhook endpoint and pipeline."""
    InstrumentFactory(symbol="AAPL")
    strategy = StrategyFactory(organization=org, name="Trend")
    account = BrokerAccountFactory(organization=org, name="Paper one")
    subscription = SubscriptionFactory(strategy=strategy, account=account, use_signal_quantity=True)
    webhook = webhook_create(
        organization=org, strategy=strategy, name="h", duplicate_window_seconds=0
    )
    path = webhook_url(webhook=webhook, base_url="/")
    with django_capture_on_commit_callbacks(execute=True):
        body = '{"ticker": "AAPL", "action": "buy", "price": 180, "quantity": 3}'
        assert client.post(path, body, content_type="text/plain").status_code == 200
    assert Position.objects.get(account=account, symbol="AAPL").quantity == 3
    return strategy, account, subscription


def preview(client, url, data):
    before = rows()
    response = client.get(url, data, **HTMX)
    assert rows() == before  # nothing ordered, nothing recorded, the market unmoved
    return response


def test_the_page_offers_the_preview_with_its_defaults(client_as, setup):
    _, _, subscription = setup
    page = client_as(Role.TRADER).get(f"/subscriptions/{subscription.id}/").content.decode()
    assert f'hx-get="/subscriptions/{subscription.id}/preview/"' in page
    for name, value in SIGNAL.items():
        assert f'name="{name}"' in page
        assert f'value="{value}"' in page or f'<option value="{value}" selected>' in page


def test_buy_with_allow_add_off_is_ignored_in_a_long_account(client_as, setup):
    _, _, subscription = setup
    response = preview(client_as(Role.TRADER), f"/subscriptions/{subscription.id}/preview/", SIGNAL)
    page = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in page  # the htmx partial
    assert "Position now: long 3." in page
    assert "It would be ignored:" in page and "already long and adding is off" in page


def test_the_forms_unsaved_settings_are_planned_with_their_bracket(client_as, setup):
    _, _, subscription = setup
    settings = SUBSCRIPTION_FORM | {
        "use_signal_quantity": "",
        "allow_add": "on",
        "sizing_method": "dollar_amount",
        "sizing_value": "1900",
        "take_profit_kind": "percent",
        "take_profit_value": "10",
        "stop_loss_kind": "amount",
        "stop_loss_value": "5",
        "entry_order_type": "limit",
        "limit_price_offset": "0.5",
    }
    client = client_as(Role.TRADER)
    response = preview(client, f"/subscriptions/{subscription.id}/preview/", settings | SIGNAL)
    page = response.content.decode()
    assert "It would place:" in page
    # $1,900 at 190 is 10 shares; limit 190 + 0.50; the bracket is relative to the
    # signal's price (planning's base): take profit +10 % = 209, stop 5 below = 185.
    assert "<td>entry</td><td>buy</td>" in page
    assert "10 AAPL" in page and "limit 190.5 " in page
    assert "take profit 209.00, stop loss 185.00" in page
    subscription.refresh_from_db()
    assert subscription.use_signal_quantity  # the preview saved nothing
    assert not subscription.allow_add


def test_a_sell_reverses_the_long(client_as, setup):
    _, _, subscription = setup
    data = SIGNAL | {"preview-action": "sell", "preview-quantity": "2"}
    page = preview(
        client_as(Role.VIEWER), f"/subscriptions/{subscription.id}/preview/", data
    ).content.decode()
    assert '<td>exit</td><td>sell</td><td class="num">3 AAPL' in page
    assert '<td>entry</td><td>sell</td><td class="num">2 AAPL' in page


def test_max_position_size_caps_the_entry(client_as, setup):
    _, _, subscription = setup
    settings = SUBSCRIPTION_FORM | {"allow_add": "on", "max_position_size": "5"}
    page = preview(
        client_as(Role.TRADER), f"/subscriptions/{subscription.id}/preview/", settings | SIGNAL
    ).content.decode()
    assert "2 AAPL" in page and "maximum position size 5 caps the entry" in page


def test_manual_approval_is_said(client_as, setup):
    _, _, subscription = setup
    settings = SUBSCRIPTION_FORM | {"allow_add": "on", "auto_submit": ""}
    page = preview(
        client_as(Role.TRADER), f"/subscriptions/{subscription.id}/preview/", settings | SIGNAL
    ).content.decode()
    assert "after your approval (they wait 300 s" in page


def test_a_new_subscription_previews_in_the_chosen_account(client_as, setup, org):
    strategy, _, _ = setup
    fresh = BrokerAccountFactory(organization=org, name="Fresh")
    data = SUBSCRIPTION_FORM | {"account": str(fresh.id), "use_signal_quantity": "on"} | SIGNAL
    page = preview(
        client_as(Role.TRADER), f"/strategies/{strategy.id}/subscribe/preview/", data
    ).content.decode()
    assert "Position now: flat." in page
    assert "10 AAPL" in page and "at market" in page
    assert not Subscription.objects.filter(account=fresh).exists()


def test_settings_that_would_not_save_are_named(client_as, setup):
    _, _, subscription = setup
    settings = SUBSCRIPTION_FORM | {"sizing_method": "risk_dollar_amount"}
    page = preview(
        client_as(Role.TRADER), f"/subscriptions/{subscription.id}/preview/", settings | SIGNAL
    ).content.decode()
    assert "Fix these settings first" in page
    assert "Risk dollar amount sizing needs a default stop loss." in page


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"preview-ticker": "NOPE"}, "ticker-does-not-exist"),
        ({"preview-price": "-1"}, "It must be a positive number"),
        ({"preview-quantity": "abc"}, "Enter a number."),
        ({"preview-action": "explode"}, "Select a valid choice."),
    ],
)
def test_a_bad_signal_is_explained(client_as, setup, data, expected):
    _, _, subscription = setup
    response = preview(
        client_as(Role.TRADER), f"/subscriptions/{subscription.id}/preview/", SIGNAL | data
    )
    assert response.status_code == 200
    assert expected in response.content.decode()


def test_a_disabled_subscription_says_a_signal_would_not_reach_it(client_as, setup):
    _, _, subscription = setup
    settings = SUBSCRIPTION_FORM | {"enabled": "", "allow_add": "on"}
    page = preview(
        client_as(Role.TRADER), f"/subscriptions/{subscription.id}/preview/", settings | SIGNAL
    ).content.decode()
    assert "This subscription is off" in page


@pytest.mark.parametrize("role", EVERYONE)
def test_preview_roles(client_as, role, setup):
    _, _, subscription = setup
    client = client_as(role)
    response = client.get(f"/subscriptions/{subscription.id}/preview/", SIGNAL, **HTMX)
    assert response.status_code == expected_get(role)
    posted = client.post(f"/subscriptions/{subscription.id}/preview/", SIGNAL)
    # Read-only: a POST is refused before any lookup (405; a viewer's 403 comes first).
    assert posted.status_code == (403 if role == Role.VIEWER else 405)


def test_without_htmx_the_preview_is_a_page(client_as, setup):
    _, _, subscription = setup
    response = client_as(Role.TRADER).get(f"/subscriptions/{subscription.id}/preview/", SIGNAL)
    page = response.content.decode()
    assert "<html" in page and "It would be ignored:" in page


def test_a_viewer_sees_the_settings_without_a_form(client_as, setup):
    _, _, subscription = setup
    response = client_as(Role.VIEWER).get(f"/subscriptions/{subscription.id}/")
    assert response.status_code == 200
    assert post_forms_in_main(response) == 0
    assert "Preview a signal" in response.content.decode()


def test_the_service_plans_like_the_pipeline(org, setup):
    from signals.preview import signal_preview

    strategy, account, subscription = setup
    result = signal_preview(
        organization=org,
        strategy=strategy,
        account=account,
        settings=subscription,
        ticker="aapl",
        action="exit",
        price=Decimal("200"),
    )
    assert result.outcome == "orders"
    assert [(o.leg, o.side, o.quantity) for o in result.orders] == [("exit", "sell", 3)]
