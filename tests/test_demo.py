"""`manage.py demo`: one JSON object with a fixed set of keys, idempotent, one tenant per
--org, and a quickstart for people with the webhook URL and a curl command."""

import json
import uuid
from decimal import Decimal
from io import StringIO
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command

from accounts.models import ApiKey, Membership, Organization, Role, User
from accounts.services import api_key_authenticate, secret_matches
from brokers.models import BrokerAccount, Instrument
from strategies.models import Strategy, Subscription
from tests.factories import BrokerAccountFactory
from webhooks.models import Webhook

pytestmark = pytest.mark.django_db

KEYS = {
    "organization_id",
    "email",
    "password",
    "webhook_url",
    "webhook_id",
    "api_key",
    "account_id",
    "strategy_id",
}
MODELS = [Organization, User, Membership, BrokerAccount, Strategy, Subscription, Webhook]


def run_demo(*args) -> str:
    out = StringIO()
    call_command("demo", *args, stdout=out)
    return out.getvalue()


def demo_json(*args) -> dict:
    return json.loads(run_demo("--json", *args))


def _counts():
    return {model.__name__: model.objects.count() for model in MODELS}


def test_json_has_exactly_the_documented_keys():
    info = demo_json()
    assert set(info) == KEYS
    assert all(isinstance(value, str) and value for value in info.values())


def test_creates_a_working_tenant():
    info = demo_json("--base-url", "http://demo.test:9000")
    org = Organization.objects.get(pk=info["organization_id"])
    user = User.objects.get(email=info["email"])
    assert user.check_password(info["password"])
    assert Membership.objects.get(organization=org, user=user).role == Role.OWNER

    account = BrokerAccount.objects.for_org(org).get(pk=info["account_id"])
    assert (account.broker, account.mode) == ("paper", "paper")
    assert account.cash == Decimal("100000")

    strategy = Strategy.objects.for_org(org).get(pk=info["strategy_id"])
    subscription = Subscription.objects.for_org(org).get(strategy=strategy)
    assert subscription.account == account
    assert subscription.auto_submit and subscription.enabled
    assert subscription.allowed_sides == Subscription.Sides.BOTH
    assert subscription.use_signal_quantity
    assert subscription.sizing_value == 1
    assert subscription.entry_order_type == Subscription.OrderType.MARKET

    key = api_key_authenticate(raw=info["api_key"])
    assert key.organization == org
    assert sorted(key.scopes) == sorted(ApiKey.ALL_SCOPES)


def test_webhook_url_points_at_the_webhook_with_its_password():
    info = demo_json("--base-url", "http://demo.test:9000/")
    url = urlsplit(info["webhook_url"])
    assert (url.scheme, url.netloc) == ("http", "demo.test:9000")
    prefix, webhook_id, password = url.path.rsplit("/", 2)
    assert prefix == "/trading/webhook"
    assert webhook_id == info["webhook_id"]
    webhook = Webhook.objects.get(pk=webhook_id)
    assert str(webhook.organization_id) == info["organization_id"]
    assert str(webhook.strategy_id) == info["strategy_id"]
    assert secret_matches(password, webhook.password_digest)
    assert password not in (webhook.password_digest, webhook.password_encrypted)


def test_second_run_reuses_everything():
    first = demo_json()
    counts = _counts()
    second = demo_json()
    for key in KEYS - {"api_key"}:
        assert second[key] == first[key], key
    assert _counts() == counts


@pytest.mark.parametrize(
    "other",
    [
        {"broker": BrokerAccount.Broker.PAPER, "mode": BrokerAccount.Mode.PAPER},
        {"broker": BrokerAccount.Broker.ALPACA, "mode": BrokerAccount.Mode.LIVE},
    ],
    ids=["another-paper", "a-live-one"],
)
def test_a_rerun_keeps_its_account_when_the_tenant_has_another_of_that_name(other):
    # The API lets a tenant name two accounts alike; the demo must neither crash nor move
    # its subscription to an account that is not its own paper one.
    first = demo_json("--org", "Twin Accounts")
    org = Organization.objects.get(pk=first["organization_id"])
    BrokerAccountFactory(organization=org, name="Paper account", **other)
    again = demo_json("--org", "Twin Accounts")
    assert again["account_id"] == first["account_id"]
    assert Subscription.objects.for_org(org).get().account_id == uuid.UUID(first["account_id"])


def test_a_tenant_whose_only_paper_account_name_is_a_live_account_gets_a_paper_one():
    org = Organization.objects.create(name="Live Only", slug="live-only")
    live = BrokerAccountFactory(
        organization=org, name="Paper account",
        broker=BrokerAccount.Broker.ALPACA, mode=BrokerAccount.Mode.LIVE,
    )  # fmt: skip
    info = demo_json("--org", "Live Only")
    account = BrokerAccount.objects.for_org(org).get(pk=info["account_id"])
    assert account != live and (account.broker, account.mode) == ("paper", "paper")


def test_second_run_leaves_exactly_one_active_demo_key():
    first = demo_json()
    second = demo_json()
    assert first["api_key"] != second["api_key"]
    org = Organization.objects.get(pk=second["organization_id"])
    active = ApiKey.objects.for_org(org).filter(revoked_at__isnull=True)
    assert active.count() == 1
    assert api_key_authenticate(raw=first["api_key"]) is None
    assert api_key_authenticate(raw=second["api_key"]) == active.get()


def test_another_org_is_a_separate_tenant():
    demo = demo_json()
    acme = demo_json("--org", "Acme Capital")
    for key in KEYS:
        assert acme[key] != demo[key], key
    assert Organization.objects.count() == 2
    acme_org = Organization.objects.get(pk=acme["organization_id"])
    assert acme_org.name == "Acme Capital"
    assert not BrokerAccount.objects.for_org(acme_org).filter(pk=demo["account_id"]).exists()
    assert not Membership.objects.filter(organization=acme_org, user__email=demo["email"]).exists()


def test_loads_the_ticker_database_once():
    assert not Instrument.objects.exists()
    demo_json()
    assert Instrument.objects.filter(symbol="AAPL", asset_class="stock").exists()
    loaded = Instrument.objects.count()
    Instrument.objects.filter(symbol="AAPL").delete()
    demo_json()
    # Already populated: a re-run never reloads (or overwrites) an operator's table.
    assert Instrument.objects.count() == loaded - 1


def test_password_survives_a_reset_by_someone_else():
    info = demo_json()
    user = User.objects.get(email=info["email"])
    user.set_password("changed-by-hand-123")
    user.save()
    again = demo_json()
    assert again["password"] == info["password"]
    user.refresh_from_db()
    assert user.check_password(info["password"])


def test_people_output_has_login_webhook_url_and_curl():
    text = run_demo("--base-url", "http://127.0.0.1:8123")
    webhook = Webhook.objects.get()
    org = webhook.organization
    owner = Membership.objects.get(organization=org).user
    assert owner.email in text
    assert f"http://127.0.0.1:8123/trading/webhook/{webhook.id}/" in text
    curl_lines = [line for line in text.splitlines() if "curl -X POST" in line]
    assert any(f"/trading/webhook/{webhook.id}/" in line for line in curl_lines)
    assert '"ticker": "AAPL"' in text
    assert not text.lstrip().startswith("{")
