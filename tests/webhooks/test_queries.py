import pytest

from signals.models import Signal

pytestmark = pytest.mark.django_db


def test_an_accepted_request_costs_at_most_five_queries(
    make_webhook, send, django_assert_max_num_queries
):
    _, path = make_webhook(limit_to_tradingview=True, allowed_tickers=["AMD"])
    send(path, {"ticker": "AMD", "action": "buy", "quantity": 1}, ip="52.89.214.238")
    with django_assert_max_num_queries(5):
        response = send(path, {"ticker": "AMD", "action": "buy", "quantity": 2}, ip="52.89.214.238")
    assert response.status_code == 200
    assert Signal.objects.filter(status=Signal.Status.PENDING).count() == 2


def test_a_cold_instrument_cache_adds_one_query(make_webhook, send, django_assert_num_queries):
    _, path = make_webhook()
    # webhook + organization (one join), instrument lookup, signal insert.
    with django_assert_num_queries(3):
        response = send(path, {"ticker": "AMD", "action": "buy"})
    assert response.status_code == 200
