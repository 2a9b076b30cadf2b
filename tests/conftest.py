import uuid

import pytest

from accounts.models import Role
from config.celery import app as celery_app
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from tests.servers import redis_server_start, redis_server_stop


@pytest.fixture(autouse=True)
def _isolated_cache(settings):
    # Rate-limit counters live in the cache (Redis in CI). A fresh key prefix per test
    # isolates them without flushing Redis, which also carries the Celery queue.
    caches = {name: dict(conf) for name, conf in settings.CACHES.items()}
    caches["default"]["KEY_PREFIX"] = f"test-{uuid.uuid4().hex[:12]}"
    settings.CACHES = caches
    yield


@pytest.fixture(autouse=True)
def _celery_mode(request):
    # Unit tests run tasks in-process (and, under the `db` fixture's transaction, on_commit
    # callbacks only fire inside django_capture_on_commit_callbacks(execute=True)).
    # Tests marked e2e use a real worker on Redis.
    eager = "e2e" not in request.keywords
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = eager
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture
def org():
    return OrganizationFactory()


@pytest.fixture
def other_org():
    return OrganizationFactory()


@pytest.fixture
def owner(org):
    return MembershipFactory(organization=org, role=Role.OWNER).user


@pytest.fixture
def member(org):
    return MembershipFactory(organization=org, role=Role.TRADER).user


@pytest.fixture
def viewer(org):
    return MembershipFactory(organization=org, role=Role.VIEWER).user


@pytest.fixture
def outsider(other_org):
    """Owner of another organization: must never see the first one's rows."""
    return MembershipFactory(organization=other_org, role=Role.OWNER).user


@pytest.fixture
def no_org_user():
    return UserFactory()


@pytest.fixture
def throwaway_redis():
    """(port, url) of a Redis server of our own, so stopping it disturbs nobody else."""
    port, url = redis_server_start()
    yield port, url
    redis_server_stop(port)


@pytest.fixture
def alpaca_standin(settings):
    """Alpaca's trading and data APIs and its trade stream on a free loopback port, with
    every Alpaca account of the test pointed at it (tests/standins/alpaca.py)."""
    from tests.standins.alpaca import AlpacaStandin

    standin = AlpacaStandin().start()
    settings.ALPACA_TRADING_URL = standin.url
    settings.ALPACA_DATA_URL = standin.url
    settings.ALPACA_STREAM_URL = standin.stream_url
    settings.ALPACA_RETRY_WAIT_SECONDS = 0.05
    settings.ALPACA_TIMEOUT_SECONDS = 2.0
    yield standin
    standin.stop()


@pytest.fixture
def alpaca_account(org, alpaca_standin):
    """An Alpaca paper account of ``org`` whose keys the stand-in knows."""
    from brokers.models import BrokerAccount
    from brokers.services import broker_account_create

    key_id, secret = f"PK{uuid.uuid4().hex[:18].upper()}", uuid.uuid4().hex + uuid.uuid4().hex
    alpaca_standin.add_account(key_id, secret)
    return broker_account_create(
        organization=org,
        name="Alpaca paper",
        broker=BrokerAccount.Broker.ALPACA,
        mode=BrokerAccount.Mode.PAPER,
        credentials={"api_key": key_id, "secret_key": secret},
    )
