"""The UTM dialect, as seeds/utm-webhooks.md documents it: the seed's examples, every
error code, and the log row every request with a valid key leaves behind."""

import json
import uuid

import pytest
from rest_framework.test import APIClient

from accounts.models import ApiKey
from accounts.services import api_key_create, api_key_revoke, organization_suspend
from brokers.models import BrokerAccount, Order
from signals.intent import SignalIntent
from signals.models import Signal
from tests.api.conftest import INGEST
from tests.factories import BrokerAccountFactory, OrganizationFactory, StrategyFactory

pytestmark = pytest.mark.django_db

BASIC = {"symbol": "AAPL", "action": "openLong", "accountId": None, "quantity": 100}
WITH_EXIT_RULES = {
    **BASIC,
    "orderType": "LIMIT",
    "limitPrice": 150.00,
    "exitRules": {
        "stopLoss": {"type": "PERCENT", "value": 2.0},
        "takeProfit": {"type": "PERCENT", "value": 5.0},
    },
}


def post(raw_key, body, *, raw=None, query=False, **headers):
    api = APIClient()
    data = raw if raw is not None else json.dumps(body)
    url = f"{INGEST}?apiKey={raw_key}" if query else INGEST
    if raw_key and not query:
        headers["HTTP_X_API_KEY"] = raw_key
    return api.post(url, data=data, content_type="application/json", **headers)


def body_for(account, **overrides):
    return {**BASIC, "accountId": str(account.id), **overrides}


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    data = response.json()
    assert data["success"] is False
    assert data["error"] == code
    assert isinstance(data["message"], str) and data["message"]
    assert isinstance(data["details"], list)
    return data


def test_seed_basic_signal_is_accepted_logged_and_queued(
    raw_key, key_and_raw, paper_account, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = post(raw_key, body_for(paper_account))
    assert response.status_code == 200
    data = response.json()
    assert set(data) == {"success", "signalId", "status", "message", "logId"}
    assert data["success"] is True
    assert data["status"] == "PENDING"
    assert data["message"] == "Signal received and queued for processing"
    signal = Signal.objects.get()
    assert str(signal.id) == data["signalId"] and str(signal.log_id) == data["logId"]
    assert signal.dialect == Signal.Dialect.UTM and signal.status == Signal.Status.PENDING
    assert signal.api_key == key_and_raw[0] and signal.account == paper_account
    assert (signal.ticker, signal.action) == ("AAPL", "openLong")
    intent = SignalIntent.from_json(signal.intent)
    assert intent.action == "open_long" and intent.quantity == 100
    assert intent.quantity_type == "fixed_quantity"
    assert (intent.order_type, intent.time_in_force) == ("market", "day")
    assert intent.account_id == str(paper_account.id)
    assert len(callbacks) == 1  # process_signal is enqueued once, after commit
    assert not Order.objects.exists()  # ingestion never calls a broker


def test_seed_signal_with_exit_rules(raw_key, paper_account):
    response = post(raw_key, {**WITH_EXIT_RULES, "accountId": str(paper_account.id)})
    assert response.status_code == 200, response.content
    intent = SignalIntent.from_json(Signal.objects.get().intent)
    assert intent.order_type == "limit" and intent.limit_price == 150
    assert intent.stop_loss.percent == 2 and intent.take_profit.percent == 5


@pytest.mark.parametrize(
    "field, value, expected",
    [
        ("action", "openShort", "open_short"),
        ("action", "closeLong", "close_long"),
        ("action", "closeShort", "close_short"),
        ("action", "reverseToLong", "reverse_to_long"),
        ("action", "reverseToShort", "reverse_to_short"),
        ("quantityType", "PERCENT_EQUITY", "percent_of_equity"),
        ("quantityType", "DOLLAR_AMOUNT", "dollar_amount"),
        ("quantityType", "PERCENT_POSITION", "percent_of_position"),
        ("timeInForce", "GTC", "gtc"),
        ("timeInForce", "IOC", "ioc"),
        ("timeInForce", "FOK", "fok"),
    ],
)
def test_enumerations_map_to_the_intent(raw_key, paper_account, field, value, expected):
    body = body_for(paper_account, **{field: value, "quantity": 10})
    assert post(raw_key, body).status_code == 200
    intent = Signal.objects.get().intent
    key = {"action": "action", "quantityType": "quantity_type", "timeInForce": "time_in_force"}
    assert intent[key[field]] == expected


@pytest.mark.parametrize(
    "extra, intent_fields",
    [
        ({"orderType": "STOP", "stopPrice": 140}, {"order_type": "stop", "stop_price": "140"}),
        (
            {"orderType": "STOP_LIMIT", "stopPrice": 140, "limitPrice": 139.5},
            {"order_type": "stop_limit", "stop_price": "140", "limit_price": "139.5"},
        ),
        (
            {"exitRules": {"stopLoss": {"type": "PRICE", "value": 140}}},
            {"stop_loss": {"price": "140"}},
        ),
        (
            {"exitRules": {"takeProfit": {"type": "AMOUNT", "value": 12.5}}},
            {"take_profit": {"amount": "12.5"}},
        ),
        ({"comment": "breakout", "price": 151.25}, {"comment": "breakout", "price": "151.25"}),
    ],
)
def test_optional_fields(raw_key, paper_account, extra, intent_fields):
    assert post(raw_key, body_for(paper_account, **extra)).status_code == 200
    intent = Signal.objects.get().intent
    for name, value in intent_fields.items():
        assert intent[name] == value


def test_unknown_fields_are_ignored_and_not_kept_however_nested(raw_key, paper_account):
    deep = {}
    for _ in range(25):  # within the parse-time bound (deeper: test_utm_hostile_input)
        deep = {"x": deep}
    rules = {"stopLoss": {"type": "percent", "value": 2, "extra": deep}}
    response = post(raw_key, body_for(paper_account, exitRules=rules, extra=deep))
    assert response.status_code == 200, response.content
    signal = Signal.objects.get()
    assert signal.payload["exitRules"] == {"stopLoss": {"type": "PERCENT", "value": 2}}
    assert "extra" not in signal.payload


def test_float_noise_is_rounded_to_eight_decimals(raw_key, paper_account):
    body = body_for(paper_account, quantity=0.1 + 0.2, price=150.1 * 3)
    assert post(raw_key, body).status_code == 200
    intent = Signal.objects.get().intent
    assert intent["quantity"] == "0.3" and intent["price"] == "450.3"


def test_strategy_id_is_looked_up_in_the_keys_organization(raw_key, org, paper_account):
    strategy = StrategyFactory(organization=org)
    assert post(raw_key, body_for(paper_account, strategyId=str(strategy.id))).status_code == 200
    assert Signal.objects.get().strategy == strategy


def test_another_tenants_strategy_is_a_validation_error(raw_key, other_org, paper_account):
    theirs = StrategyFactory(organization=other_org)
    data = assert_error(
        post(raw_key, body_for(paper_account, strategyId=str(theirs.id))), 400, "VALIDATION_ERROR"
    )
    assert [d["field"] for d in data["details"]] == ["strategyId"]


def test_api_key_in_the_query_string(raw_key, paper_account):
    assert post(raw_key, body_for(paper_account), query=True).status_code == 200


def test_text_plain_body_is_accepted(raw_key, paper_account):
    response = APIClient().post(
        INGEST,
        data=json.dumps(body_for(paper_account)),
        content_type="text/plain",
        HTTP_X_API_KEY=raw_key,
    )
    assert response.status_code == 200


def test_trailing_slash_form_works_too(raw_key, paper_account):
    response = APIClient().post(
        INGEST + "/",
        data=json.dumps(body_for(paper_account)),
        content_type="application/json",
        HTTP_X_API_KEY=raw_key,
    )
    assert response.status_code == 200


# --- INVALID_API_KEY ---------------------------------------------------------------


@pytest.mark.parametrize("raw", [None, "", "tr_deadbeef_nope", "not-a-key", "x" * 5000])
def test_missing_or_unknown_key_is_401_and_not_logged(paper_account, raw):
    data = assert_error(post(raw, body_for(paper_account)), 401, "INVALID_API_KEY")
    assert "logId" not in data
    assert not Signal.objects.exists()


def test_revoked_key_is_401(key_and_raw, paper_account):
    key, raw = key_and_raw
    api_key_revoke(key=key)
    assert_error(post(raw, body_for(paper_account)), 401, "INVALID_API_KEY")
    assert not Signal.objects.exists()


def test_key_without_signals_write_scope_is_403_and_logged(make_key, paper_account):
    _, raw = make_key(scopes=[ApiKey.Scope.READ, ApiKey.Scope.MANAGE])
    data = assert_error(post(raw, body_for(paper_account)), 403, "INVALID_API_KEY")
    assert "signals:write" in data["message"]
    signal = Signal.objects.get()
    assert signal.status == Signal.Status.REJECTED and str(signal.log_id) == data["logId"]


def test_suspended_organization_is_refused_and_logged(org, raw_key, paper_account):
    organization_suspend(organization=org)
    data = assert_error(post(raw_key, body_for(paper_account)), 403, "ORGANIZATION_SUSPENDED")
    signal = Signal.objects.get()
    assert signal.status == Signal.Status.REJECTED
    assert signal.message_code == "ORGANIZATION_SUSPENDED"
    assert str(signal.log_id) == data["logId"]


# --- VALIDATION_ERROR ----------------------------------------------------------------


def test_every_bad_field_is_listed_at_once(
    raw_key, paper_account, django_capture_on_commit_callbacks
):
    body = {
        "symbol": "",
        "action": "buy",
        "quantity": -1,
        "quantityType": "LOTS",
        "orderType": "LIMIT",
        "timeInForce": "WEEK",
        "exitRules": {"stopLoss": {"type": "PIPS", "value": 0}, "takeProfit": 5},
    }
    with django_capture_on_commit_callbacks() as callbacks:
        data = assert_error(post(raw_key, body), 400, "VALIDATION_ERROR")
    fields = [d["field"] for d in data["details"]]
    assert set(fields) == {
        "symbol",
        "action",
        "accountId",
        "quantity",
        "quantityType",
        "limitPrice",
        "timeInForce",
        "exitRules.stopLoss.type",
        "exitRules.stopLoss.value",
        "exitRules.takeProfit",
    }
    assert all(d["message"] for d in data["details"])
    signal = Signal.objects.get()
    assert signal.status == Signal.Status.REJECTED
    assert signal.message_code == "VALIDATION_ERROR"
    assert "symbol" in signal.message
    assert callbacks == []  # nothing is queued for a rejected signal
    assert not Order.objects.exists()


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"symbol": None}, "symbol"),
        ({"symbol": 42}, "symbol"),
        ({"symbol": "AA PL"}, "symbol"),
        ({"action": None}, "action"),
        ({"accountId": None}, "accountId"),
        ({"accountId": 12}, "accountId"),
        ({"quantity": "ten"}, "quantity"),
        ({"quantity": True}, "quantity"),
        ({"quantity": 0}, "quantity"),
        ({"quantity": 1e20}, "quantity"),
        ({"quantity": 0.000000001}, "quantity"),
        ({"quantityType": "PERCENT_EQUITY", "quantity": 150}, "quantity"),
        ({"orderType": "STOP"}, "stopPrice"),
        ({"orderType": "STOP_LIMIT", "stopPrice": 1}, "limitPrice"),
        ({"orderType": "LIMIT", "limitPrice": -5}, "limitPrice"),
        ({"orderType": "TRAILING"}, "orderType"),
        ({"exitRules": []}, "exitRules"),
        ({"exitRules": {"trailing": {}}}, "exitRules.trailing"),
        ({"exitRules": {"stopLoss": {"type": "PERCENT"}}}, "exitRules.stopLoss.value"),
        (
            {"exitRules": {"stopLoss": {"type": "PERCENT", "value": 100}}},
            "exitRules.stopLoss.value",
        ),
        ({"comment": "x" * 501}, "comment"),
        ({"clientSignalId": "x" * 201}, "clientSignalId"),
        ({"strategyId": "not-a-uuid"}, "strategyId"),
    ],
)
def test_bad_field(raw_key, paper_account, overrides, field):
    data = assert_error(
        post(raw_key, body_for(paper_account, **overrides)), 400, "VALIDATION_ERROR"
    )
    assert field in [d["field"] for d in data["details"]]
    assert Signal.objects.get().status == Signal.Status.REJECTED


@pytest.mark.parametrize(
    "raw",
    [b"", b"   ", b"{not json", b"[1, 2]", b'"AAPL"', b"null", b"\xff\xfe\x00", b'{"a": NaN}'],
)
def test_bad_bodies_are_400_with_a_log_row(raw_key, raw):
    data = assert_error(post(raw_key, None, raw=raw), 400, "VALIDATION_ERROR")
    assert data["details"][0]["field"] == "body"
    signal = Signal.objects.get()
    assert signal.status == Signal.Status.REJECTED and str(signal.log_id) == data["logId"]


def test_oversized_body_is_400(raw_key, paper_account, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 1024
    body = body_for(paper_account, comment="x" * 2000)
    data = assert_error(post(raw_key, body), 400, "VALIDATION_ERROR")
    assert "bytes" in data["details"][0]["message"]
    assert Signal.objects.get().status == Signal.Status.REJECTED


def test_nul_characters_and_surrogates_are_logged_not_500(raw_key, paper_account):
    raw = b'{"symbol": "A\\u0000B", "action": "\\ud800", "accountId": "x"}'
    assert_error(post(raw_key, None, raw=raw), 400, "VALIDATION_ERROR")
    assert Signal.objects.get().status == Signal.Status.REJECTED


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_other_methods_are_405_in_the_utm_envelope_and_logged(raw_key, method):
    response = getattr(APIClient(), method)(INGEST, HTTP_X_API_KEY=raw_key)
    data = assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert response["Allow"] == "POST"
    signal = Signal.objects.get()
    assert signal.status == Signal.Status.REJECTED and str(signal.log_id) == data["logId"]


def test_other_methods_without_a_key_are_401(paper_account):
    assert_error(APIClient().get(INGEST), 401, "INVALID_API_KEY")
    assert not Signal.objects.exists()


# --- ACCOUNT_NOT_FOUND / MODE_MISMATCH -----------------------------------------------


@pytest.mark.parametrize("account_id", [str(uuid.uuid4()), "not-a-uuid", "your-account-id"])
def test_unknown_or_malformed_account_is_404(raw_key, account_id):
    body = {**BASIC, "accountId": account_id}
    data = assert_error(post(raw_key, body), 404, "ACCOUNT_NOT_FOUND")
    assert data["details"][0]["field"] == "accountId"
    assert Signal.objects.get().status == Signal.Status.REJECTED


def test_another_tenants_account_is_404_and_nothing_reaches_it(raw_key, other_org):
    theirs = BrokerAccountFactory(organization=other_org)
    assert_error(post(raw_key, body_for(theirs)), 404, "ACCOUNT_NOT_FOUND")
    signal = Signal.objects.get()
    assert signal.organization_id != other_org.id and signal.account is None
    assert not Signal.objects.filter(organization=other_org).exists()


@pytest.mark.parametrize(
    "key_mode, account_mode",
    [(ApiKey.Mode.PAPER, BrokerAccount.Mode.LIVE), (ApiKey.Mode.LIVE, BrokerAccount.Mode.PAPER)],
)
def test_mode_mismatch_is_409(make_key, org, key_mode, account_mode):
    _, raw = make_key(mode=key_mode)
    account = BrokerAccountFactory(organization=org, mode=account_mode)
    data = assert_error(post(raw, body_for(account)), 409, "MODE_MISMATCH")
    assert key_mode in data["details"][0]["message"]
    assert Signal.objects.get().status == Signal.Status.REJECTED
    assert not Order.objects.exists()


def test_live_key_on_live_account_is_accepted(make_key, org):
    _, raw = make_key(mode=ApiKey.Mode.LIVE)
    account = BrokerAccountFactory(organization=org, mode=BrokerAccount.Mode.LIVE)
    assert post(raw, body_for(account)).status_code == 200


# --- RATE_LIMIT_EXCEEDED -------------------------------------------------------------


def test_rate_limit_per_key_with_retry_after(settings, raw_key, make_key, paper_account):
    settings.API_KEY_RATE_PER_MINUTE = 3
    for _ in range(3):
        assert post(raw_key, body_for(paper_account)).status_code == 200
    response = post(raw_key, body_for(paper_account))
    assert_error(response, 429, "RATE_LIMIT_EXCEEDED")
    assert 1 <= int(response["Retry-After"]) <= 60
    assert Signal.objects.filter(status=Signal.Status.PENDING).count() == 3
    assert Signal.objects.filter(message_code="RATE_LIMIT_EXCEEDED").count() == 1
    _, other_raw = make_key(name="another key")
    assert post(other_raw, body_for(paper_account)).status_code == 200  # per key


def test_default_rate_is_100_a_minute(raw_key, paper_account):
    statuses = [post(raw_key, {"symbol": 1}).status_code for _ in range(101)]
    assert statuses[:100] == [400] * 100
    assert statuses[100] == 429


def test_organization_rate_overrides_the_default(settings, org, raw_key, paper_account):
    settings.API_KEY_RATE_PER_MINUTE = 100
    org.api_rate_per_minute = 2
    org.save()
    codes = [post(raw_key, body_for(paper_account)).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_other_organizations_are_not_affected_by_my_rate(settings, raw_key, paper_account):
    settings.API_KEY_RATE_PER_MINUTE = 1
    post(raw_key, body_for(paper_account))
    assert post(raw_key, body_for(paper_account)).status_code == 429
    other = OrganizationFactory()
    _, theirs = api_key_create(organization=other, name="k")
    account = BrokerAccountFactory(organization=other)
    assert post(theirs, body_for(account)).status_code == 200
