"""Viewers see but cannot change anything: every dashboard page a viewer can open shows no
POST form (the layout's organization switcher and logout are outside <main>), and a POST
to each of those pages is refused with 403, changing nothing."""

import pytest

from accounts.models import Role
from tests.dashboard.conftest import post_forms_in_main
from tests.factories import (
    BrokerAccountFactory,
    InstrumentFactory,
    StrategyFactory,
    SubscriptionFactory,
)
from webhooks.services import webhook_create, webhook_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def pages(org, client, django_capture_on_commit_callbacks):
    InstrumentFactory(symbol="AAPL")
    account = BrokerAccountFactory(organization=org, name="Paper one")
    BrokerAccountFactory(organization=org, name="Spare")
    strategy = StrategyFactory(organization=org)
    subscription = SubscriptionFactory(
        strategy=strategy, account=account, use_signal_quantity=True, allow_add=True
    )
    SubscriptionFactory(
        strategy=strategy, account=BrokerAccountFactory(organization=org), auto_submit=False
    )
    webhook = webhook_create(
        organization=org, strategy=strategy, name="h", duplicate_window_seconds=0
    )
    path = webhook_url(webhook=webhook, base_url="/")
    for body in (
        '{"ticker": "AAPL", "action": "buy", "price": 190, "quantity": 3}',
        '{"ticker": "AAPL", "action": "add", "price": 190, "quantity": 1,'
        ' "orderType": "limit", "limitPrice": 150}',
    ):
        with django_capture_on_commit_callbacks(execute=True):
            assert client.post(path, body, content_type="text/plain").status_code == 200
    from signals.models import Signal

    signal = Signal.objects.first()
    return {
        "changing": [
            f"/strategies/{strategy.id}/subscribe/",
            f"/webhooks/{webhook.id}/edit/",
            f"/webhooks/{webhook.id}/rotate/",
            f"/webhooks/{webhook.id}/delete/",
        ],
        "reading": [
            "/",
            "/signals/",
            f"/signals/{signal.id}/",
            "/strategies/",
            f"/strategies/{strategy.id}/",
            f"/subscriptions/{subscription.id}/",
            "/webhooks/",
            f"/webhooks/{webhook.id}/",
            "/broker-accounts/",
            f"/broker-accounts/{account.id}/",
            f"/broker-accounts/{account.id}/performance/",
            f"/strategies/{strategy.id}/performance/",
            "/orders/",
            "/approvals/",
            "/members/",
        ],
    }


def test_a_viewer_is_shown_no_form_and_every_post_is_refused(client_as, pages):
    viewer = client_as(Role.VIEWER)
    for path in pages["changing"]:  # pages that are only a form: refused outright
        assert viewer.get(path).status_code == 403, path
        assert viewer.post(path, {}).status_code == 403, path
    for path in pages["reading"]:
        response = viewer.get(path)
        assert response.status_code == 200, path
        assert post_forms_in_main(response) == 0, path
        assert viewer.post(path, {}).status_code == 403, path


def test_a_trader_is_shown_the_forms(client_as, pages):
    # The check above is not vacuous: these pages do carry forms for a trader.
    trader = client_as(Role.TRADER)
    for path in pages["changing"]:
        assert post_forms_in_main(trader.get(path)) > 0, path
    with_forms = [p for p in pages["reading"] if post_forms_in_main(trader.get(p)) > 0]
    assert len(with_forms) >= 8
