from decimal import Decimal

import pytest

from brokers.adapters import get_adapter
from tests.factories import BrokerAccountFactory


@pytest.fixture
def account(org):
    return BrokerAccountFactory(
        organization=org, initial_cash=Decimal("100000"), cash=Decimal("100000")
    )


@pytest.fixture
def paper(account):
    return get_adapter(account)
