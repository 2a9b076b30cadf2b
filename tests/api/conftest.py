import pytest
from rest_framework.test import APIClient

from accounts.models import ApiKey
from accounts.services import api_key_create
from tests.factories import BrokerAccountFactory

INGEST = "/api/v1/signals/ingest"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Every matrix test logs people in; PBKDF2's deliberate slowness only costs time here.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def make_key(org):
    """make_key(scopes=..., mode=..., organization=...) -> (ApiKey, raw key)."""

    def make(*, organization=None, scopes=None, mode=ApiKey.Mode.PAPER, name="test key"):
        return api_key_create(organization=organization or org, name=name, scopes=scopes, mode=mode)

    return make


@pytest.fixture
def key_and_raw(make_key):
    return make_key()


@pytest.fixture
def raw_key(key_and_raw):
    return key_and_raw[1]


@pytest.fixture
def paper_account(org):
    return BrokerAccountFactory(organization=org)


@pytest.fixture
def anon():
    return APIClient()


@pytest.fixture
def key_client(make_key):
    """key_client(scopes=..., organization=...) -> an APIClient sending that new key."""

    def make(**kwargs):
        _, raw = make_key(**kwargs)
        api = APIClient()
        api.credentials(HTTP_X_API_KEY=raw)
        return api

    return make


@pytest.fixture
def session_client():
    def make(user):
        api = APIClient()
        api.force_login(user)
        return api

    return make


def make_tenant_objects(organization) -> dict:
    """One object of every kind the REST API serves, all in ``organization``."""
    from decimal import Decimal

    from brokers.models import Order, Position, PositionDrift
    from signals.models import Signal, SignalResult
    from strategies.models import Subscription
    from tests.factories import StrategyFactory
    from webhooks.services import webhook_create

    account = BrokerAccountFactory(organization=organization)
    strategy = StrategyFactory(organization=organization)
    subscription = Subscription.objects.create(
        organization=organization, strategy=strategy, account=account
    )
    webhook = webhook_create(organization=organization, strategy=strategy, name="hook")
    key, _ = api_key_create(organization=organization, name="listed key")
    signal = Signal.objects.create(
        organization=organization, dialect=Signal.Dialect.UTM, ticker="AAPL", action="openLong"
    )
    SignalResult.objects.create(
        organization=organization, signal=signal, account=account, status="ordered"
    )
    order = Order.objects.create(
        organization=organization,
        account=account,
        signal=signal,
        subscription=subscription,
        symbol="AAPL",
        side="buy",
        quantity=Decimal("10"),
        client_order_id=f"test-{signal.id}",
    )
    position = Position.objects.create(
        organization=organization, account=account, symbol="AAPL", quantity=Decimal("-5")
    )
    drift = PositionDrift.objects.create(
        organization=organization,
        account=account,
        symbol="AAPL",
        ours=Decimal("-5"),
        brokers=Decimal("-4"),
    )
    return {
        "position-drifts": drift,
        "accounts": account,
        "strategies": strategy,
        "subscriptions": subscription,
        "webhooks": webhook,
        "api-keys": key,
        "signals": signal,
        "orders": order,
        "positions": position,
        "spare-account": BrokerAccountFactory(organization=organization),
    }
