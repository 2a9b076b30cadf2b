"""The REST API's input policy (docs/api.md, "Input"): bodies and query strings that
PostgreSQL cannot store or Python cannot parse are a 400 in DRF's error shape, never a 500,
and nothing of them is written."""

import json

import pytest
from rest_framework.test import APIClient

from brokers.models import BrokerAccount
from strategies.models import Strategy
from tests.factories import BrokerAccountFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(owner):
    client = APIClient()
    client.force_login(owner)
    return client


def post_raw(api, url: str, text: str, content_type: str = "application/json"):
    return api.generic("POST", url, text.encode("utf-8", "surrogatepass"), content_type)


def test_deep_nesting_is_a_400_not_a_recursion_error(api):
    body = '{"name": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = post_raw(api, "/api/v1/strategies/", body)
    assert response.status_code == 400, response.content
    assert "nests deeper" in response.json()["detail"]
    assert not Strategy.objects.exists()


@pytest.mark.parametrize("escape", ["\\u0000", "\\ud800", "\\udfff"])
def test_nul_and_lone_surrogates_in_a_body_are_refused(api, escape):
    response = post_raw(api, "/api/v1/strategies/", f'{{"name": "Trend{escape}"}}')
    assert response.status_code == 400, response.content
    assert "name" in response.json()["detail"]  # the path of the bad text is named
    assert not Strategy.objects.exists()


def test_unsafe_text_in_a_key_is_refused(api):
    response = post_raw(api, "/api/v1/strategies/", '{"name": "T", "\\u0000": 1}')
    assert response.status_code == 400
    assert not Strategy.objects.exists()


def test_a_paired_surrogate_escape_is_ordinary_text(api):
    response = post_raw(api, "/api/v1/strategies/", '{"name": "Trend \\ud83d\\udcc8"}')
    assert response.status_code == 201, response.content
    assert Strategy.objects.get().name == "Trend \U0001f4c8"


@pytest.mark.parametrize("literal", ["1e400", "-1E+999"])
def test_a_number_beyond_float_range_is_a_field_error(api, literal):
    response = post_raw(api, "/api/v1/accounts/", f'{{"name": "P", "initialCash": {literal}}}')
    assert response.status_code == 400, response.content
    assert "initialCash" in response.json()
    assert not BrokerAccount.objects.exists()


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_json_constants_are_a_parse_error(api, literal):
    response = post_raw(api, "/api/v1/accounts/", f'{{"name": "P", "initialCash": {literal}}}')
    assert response.status_code == 400
    assert "detail" in response.json()


def test_form_bodies_are_refused(api):
    # The REST API speaks JSON only (docs/api.md): one parser, one policy.
    response = api.post("/api/v1/strategies/", {"name": "Trend"}, format="multipart")
    assert response.status_code == 415
    assert not Strategy.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/orders/?symbol=AA%00PL",
        "/api/v1/positions/?symbol=%00",
        "/api/v1/signals/?ticker=%00",
        "/api/v1/signals/?status=%00",
        "/api/v1/orders/?apiKey=tr_%00aaaaaaa_x",
        "/api/v1/strategies/?limit=%00",
    ],
)
def test_nul_in_a_query_string_is_a_400(api, url):
    response = api.get(url)
    assert response.status_code == 400, response.content
    assert response.json()


def test_nul_in_an_api_key_is_unauthenticated_not_a_500():
    response = APIClient().get("/api/v1/orders/?apiKey=tr_%00aaaaaaa_x")
    assert response.status_code in (400, 401), response.content


@pytest.mark.parametrize(
    "query",
    ["offset=null", "offset=-1", "offset=abc", "limit=null", "limit=0", "limit=-3", "limit=1.5"],
)
def test_bad_pagination_is_a_400_not_ignored(api, query):
    response = api.get(f"/api/v1/strategies/?{query}")
    assert response.status_code == 400, response.content
    assert set(response.json()) <= {"limit", "offset"}


def test_limit_beyond_the_maximum_is_clamped(api, org):
    response = api.get("/api/v1/strategies/?limit=100000&offset=0")
    assert response.status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/strategies/",
        "/api/v1/subscriptions/",
        "/api/v1/accounts/",
        "/api/v1/webhooks/",
        "/api/v1/api-keys/",
        "/api/v1/orders/",
        "/api/v1/positions/",
        "/api/v1/signals/",
    ],
)
def test_trace_is_method_not_allowed(api, url):
    response = api.generic("TRACE", url)
    assert response.status_code == 405, response.content
    assert "TRACE" not in response["Allow"]


def test_trace_on_a_detail_url_is_method_not_allowed(api, org):
    account = BrokerAccountFactory(organization=org)
    response = api.generic("TRACE", f"/api/v1/accounts/{account.id}/")
    assert response.status_code == 405


def test_overlong_body_is_a_400(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = post_raw(api, "/api/v1/strategies/", json.dumps({"name": "T" * 2000}))
    assert response.status_code == 400
    assert not Strategy.objects.exists()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"name": 0}, "name"),
        ({"name": "T", "enabled": 0}, "enabled"),
        ({"name": "T", "enabled": "true"}, "enabled"),
        ({"name": "   "}, "name"),
        ({"name": "T", "description": "d" * 2001}, "description"),
    ],
)
def test_strategy_fields_take_exactly_their_json_type(api, body, field):
    response = api.post("/api/v1/strategies/", body, format="json")
    assert response.status_code == 400 and field in response.json(), response.content
    assert not Strategy.objects.exists()


@pytest.mark.parametrize(
    "literal, stored",
    [("0.30000000000000004", "0.3"), ("2500.5", "2500.5"), ("1e-08", "0.00000001")],
)
def test_numbers_keep_the_columns_decimals_float_noise_rounded(api, literal, stored):
    from decimal import Decimal

    response = post_raw(api, "/api/v1/accounts/", f'{{"name": "P", "initialCash": {literal}}}')
    assert response.status_code == 201, response.content
    assert BrokerAccount.objects.get().initial_cash == Decimal(stored)


@pytest.mark.parametrize("literal", ["0.000000001", "5e-324", "1.123456789", '"100"', "true"])
def test_numbers_the_column_cannot_keep_are_refused(api, literal):
    response = post_raw(api, "/api/v1/accounts/", f'{{"name": "P", "initialCash": {literal}}}')
    assert response.status_code == 400 and "initialCash" in response.json()
    assert not BrokerAccount.objects.exists()


@pytest.mark.parametrize("value", [1.5, "1e400", True, [], {"a": 1}])
def test_an_id_that_is_not_a_uuid_is_a_field_error(api, org, value):
    account = BrokerAccountFactory(organization=org)
    body = {"strategyId": value, "accountId": str(account.id)}
    text = json.dumps(body).replace('"1e400"', "1e400")
    response = post_raw(api, "/api/v1/subscriptions/", text)
    assert response.status_code == 400 and "strategyId" in response.json(), response.content
