"""A signal's page shows the answer the endpoint gave, in the signal's own dialect: the
TradersPost envelope (success, id, logId, payload / messageCode) for a webhook signal, the
UTM one (success, signalId, status, message / error, details) for the signal API. Each
case sends a real request and compares the page with the body the endpoint answered."""

import json

import pytest

from accounts.models import Role
from signals.models import Signal
from tests.api.test_utm_ingest import BASIC, post
from tests.dashboard.test_signals import hook, send  # noqa: F401 (fixtures)
from tests.factories import BrokerAccountFactory, InstrumentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def utm_key(org):
    from accounts.services import api_key_create

    return api_key_create(organization=org, name="bot")[1]


def shown_answer(client, signal_id) -> dict:
    response = client.get(f"/signals/{signal_id}/")
    assert response.status_code == 200
    return json.loads(response.context["answer"])


@pytest.mark.parametrize(
    "body",
    [
        '{"ticker": "AAPL", "action": "buy", "price": 190, "quantity": 2}',
        '{"ticker": "AAPL", "action": "jump"}',
    ],
)
def test_traderspost_signal_shows_the_traderspost_answer(client_as, send, body):  # noqa: F811
    given = send(body).json()
    signal = Signal.objects.get(log_id=given["logId"])
    shown = shown_answer(client_as(Role.VIEWER), signal.id)
    assert shown == given
    assert "signalId" not in shown and "error" not in shown


def test_accepted_utm_signal_shows_the_utm_answer(client_as, org, utm_key):
    InstrumentFactory(symbol="AAPL")
    account = BrokerAccountFactory(organization=org)
    given = post(utm_key, {**BASIC, "accountId": str(account.id)}).json()
    assert given["success"] is True and "signalId" in given
    shown = shown_answer(client_as(Role.VIEWER), given["signalId"])
    assert shown == given
    assert "messageCode" not in shown and "payload" not in shown


def test_rejected_utm_signal_shows_its_error_and_details(client_as, org, utm_key):
    account = BrokerAccountFactory(organization=org)
    response = post(utm_key, {**BASIC, "accountId": str(account.id), "quantity": -1})
    given = response.json()
    assert response.status_code == 400 and given["error"] == "VALIDATION_ERROR"
    assert given["details"]
    signal = Signal.objects.get(log_id=given["logId"])
    page = client_as(Role.VIEWER).get(f"/signals/{signal.id}/").content.decode()
    assert "&quot;error&quot;: &quot;VALIDATION_ERROR&quot;" in page
    assert shown_answer(client_as(Role.VIEWER), signal.id) == given


def test_utm_replay_shows_the_first_answer(client_as, org, utm_key):
    InstrumentFactory(symbol="AAPL")
    account = BrokerAccountFactory(organization=org)
    body = {**BASIC, "accountId": str(account.id)}
    first = post(utm_key, body, HTTP_IDEMPOTENCY_KEY="k-1").json()
    again = post(utm_key, body, HTTP_IDEMPOTENCY_KEY="k-1").json()
    assert again == first
    repeat = Signal.objects.get(status=Signal.Status.DUPLICATE)
    assert shown_answer(client_as(Role.VIEWER), repeat.id) == first
