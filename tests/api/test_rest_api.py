"""The v1 REST API: what each endpoint does for the people allowed to use it (the tenancy
matrix is in test_tenancy_matrix.py)."""

import json
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from accounts.models import ApiKey, Role
from accounts.services import api_key_authenticate, api_key_create, secret_matches
from brokers.models import BrokerAccount, Order, Position
from signals.models import Signal
from strategies.models import Strategy, Subscription
from tests.api.conftest import INGEST, make_tenant_objects
from tests.factories import BrokerAccountFactory, MembershipFactory, StrategyFactory
from webhooks.models import Webhook
from webhooks.services import webhook_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(owner):
    client = APIClient()
    client.force_login(owner)
    return client


def as_role(org, role):
    client = APIClient()
    client.force_login(MembershipFactory(organization=org, role=role).user)
    return client


# --- broker accounts -----------------------------------------------------------------


def test_account_credentials_are_write_only_and_encrypted(api, org):
    secret = "sk-very-secret-123"
    response = api.post(
        "/api/v1/accounts/",
        {
            "name": "Alpaca",
            "broker": "alpaca",
            "mode": "paper",
            "credentials": {"api_key": "PKTEST123", "secret_key": secret},
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert "credentials" not in response.json() and response.json()["hasCredentials"] is True
    assert secret not in response.content.decode()
    account = BrokerAccount.objects.get(pk=response.json()["id"])
    assert account.organization == org
    assert secret not in account.credentials_encrypted
    assert account.credentials == {"api_key": "PKTEST123", "secret_key": secret}
    listed = api.get("/api/v1/accounts/").content.decode()
    assert secret not in listed and 'credentials"' not in listed


def test_account_fields_are_camel_case_and_organization_comes_from_the_request(api, org, other_org):
    response = api.post(
        "/api/v1/accounts/",
        {"name": "P", "initialCash": 5000, "organization": str(other_org.id)},
        format="json",
    )
    data = response.json()
    assert {"initialCash", "statusMessage", "createdAt", "hasCredentials"} <= set(data)
    account = BrokerAccount.objects.get(pk=data["id"])
    assert account.organization == org and account.cash == Decimal("5000")
    assert not BrokerAccount.objects.filter(organization=other_org).exists()


def test_account_update_and_delete(api, org):
    account = BrokerAccountFactory(organization=org)
    response = api.patch(f"/api/v1/accounts/{account.id}/", {"name": "Renamed"}, format="json")
    assert response.status_code == 200 and response.json()["name"] == "Renamed"
    assert api.delete(f"/api/v1/accounts/{account.id}/").status_code == 204
    assert not BrokerAccount.objects.filter(pk=account.id).exists()


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"name": ""}, "name"),
        ({"name": "x", "mode": "real"}, "mode"),
        ({"name": "x", "initialCash": 0}, "initialCash"),
    ],
)
def test_account_validation(api, payload, field):
    response = api.post("/api/v1/accounts/", payload, format="json")
    assert response.status_code == 400 and field in response.json()
    assert not BrokerAccount.objects.exists()


# --- strategies and subscriptions ----------------------------------------------------


def test_strategy_crud_and_unique_name(api, org, other_org):
    StrategyFactory(organization=other_org, name="Trend")  # another tenant's name is free
    created = api.post(
        "/api/v1/strategies/", {"name": "Trend", "assetClass": "crypto"}, format="json"
    )
    assert created.status_code == 201, created.content
    assert created.json()["assetClass"] == "crypto"
    again = api.post("/api/v1/strategies/", {"name": "Trend"}, format="json")
    assert again.status_code == 409 and "name" in again.json()
    assert Strategy.objects.for_org(org).count() == 1
    url = f"/api/v1/strategies/{created.json()['id']}/"
    assert api.patch(url, {"enabled": False}, format="json").json()["enabled"] is False
    assert api.delete(url).status_code == 204


def test_subscription_with_every_setting(api, org):
    strategy, account = StrategyFactory(organization=org), BrokerAccountFactory(organization=org)
    payload = {
        "strategyId": str(strategy.id),
        "accountId": str(account.id),
        "enabled": True,
        "autoSubmit": False,
        "approvalTimeoutSeconds": 120,
        "allowedSides": "long",
        "useSignalQuantity": False,
        "signalQuantityMultiplier": 2,
        "sizingMethod": "dollar_amount",
        "sizingValue": 2500,
        "exitPercentOfPosition": 50,
        "fractional": True,
        "allowAdd": True,
        "entryOrderType": "limit",
        "exitOrderType": "market",
        "entryTimeInForce": "gtc",
        "exitTimeInForce": "day",
        "limitPriceOffset": 0.05,
        "takeProfitKind": "percent",
        "takeProfitValue": 5,
        "stopLossKind": "amount",
        "stopLossValue": 2,
        "stopLossType": "trailing_stop",
        "maxPositionSize": 100,
    }
    response = api.post("/api/v1/subscriptions/", payload, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    for name, value in payload.items():
        assert data[name] == value, name
    subscription = Subscription.objects.get()
    assert subscription.organization == org and subscription.sizing_value == 2500
    assert subscription.stop_loss_type == "trailing_stop" and subscription.auto_submit is False


def test_subscription_cannot_use_another_tenants_strategy_or_account(api, org, other_org):
    mine_strategy = StrategyFactory(organization=org)
    their_account = BrokerAccountFactory(organization=other_org)
    their_strategy = StrategyFactory(organization=other_org)
    response = api.post(
        "/api/v1/subscriptions/",
        {"strategyId": str(their_strategy.id), "accountId": str(their_account.id)},
        format="json",
    )
    assert response.status_code == 400
    assert {"strategyId", "accountId"} <= set(response.json())
    response = api.post(
        "/api/v1/subscriptions/",
        {"strategyId": str(mine_strategy.id), "accountId": str(their_account.id)},
        format="json",
    )
    assert response.status_code == 400
    assert not Subscription.objects.exists()


@pytest.mark.parametrize(
    "extra, field",
    [
        ({"takeProfitKind": "percent"}, "takeProfitValue"),
        ({"sizingValue": 0}, "sizingValue"),
        ({"exitPercentOfPosition": 150}, "exitPercentOfPosition"),
        ({"allowedSides": "sideways"}, "allowedSides"),
        ({"approvalTimeoutSeconds": 1}, "approvalTimeoutSeconds"),
    ],
)
def test_subscription_validation(api, org, extra, field):
    strategy, account = StrategyFactory(organization=org), BrokerAccountFactory(organization=org)
    payload = {"strategyId": str(strategy.id), "accountId": str(account.id), **extra}
    response = api.post("/api/v1/subscriptions/", payload, format="json")
    assert response.status_code == 400 and field in response.json(), response.content
    assert not Subscription.objects.exists()


def test_subscription_filter_by_strategy(api, org):
    objects = make_tenant_objects(org)
    other = Subscription.objects.create(
        organization=org, strategy=StrategyFactory(organization=org), account=objects["accounts"]
    )
    strategy_id = objects["strategies"].id
    listed = api.get(f"/api/v1/subscriptions/?strategyId={strategy_id}").json()["results"]
    assert [row["id"] for row in listed] == [str(objects["subscriptions"].id)]
    assert str(other.id) not in json.dumps(listed)
    assert api.get("/api/v1/subscriptions/?strategyId=nope").status_code == 400


# --- webhooks ------------------------------------------------------------------------


def test_webhook_create_with_restrictions(api, org):
    strategy = StrategyFactory(organization=org)
    response = api.post(
        "/api/v1/webhooks/",
        {
            "name": "TV",
            "strategyId": str(strategy.id),
            "limitToTradingView": True,
            "limitToTrendSpider": False,
            "allowedIps": ["203.0.113.7", "10.0.0.0/8", "2001:db8::/32"],
            "allowedTickers": [" aapl", "MSFT"],
            "duplicateWindowSeconds": 30,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["limitToTradingView"] is True and data["limitToTrendSpider"] is False
    assert data["allowedIps"] == ["203.0.113.7/32", "10.0.0.0/8", "2001:db8::/32"]
    assert data["allowedTickers"] == ["AAPL", "MSFT"]
    webhook = Webhook.objects.get()
    assert webhook.organization == org and webhook.limit_to_tradingview is True
    assert data["url"].endswith(f"/trading/webhook/{webhook.id}/{data['url'].rsplit('/', 1)[1]}")
    assert secret_matches(data["url"].rsplit("/", 1)[1], webhook.password_digest)


def test_webhook_rejects_bad_ips_and_lists_them(api, org):
    strategy = StrategyFactory(organization=org)
    response = api.post(
        "/api/v1/webhooks/",
        {
            "name": "x",
            "strategyId": str(strategy.id),
            "allowedIps": ["1.2.3.4", "999.1.1.1", "abc/33"],
        },
        format="json",
    )
    assert response.status_code == 400
    message = json.dumps(response.json()["allowedIps"])
    assert "999.1.1.1" in message and "abc/33" in message and '1.2.3.4"' not in message
    assert not Webhook.objects.exists()


def test_webhook_url_is_shown_to_managers_only(org):
    strategy = StrategyFactory(organization=org)
    webhook = webhook_create(organization=org, strategy=strategy, name="h")
    for role, shown in [
        (Role.OWNER, True),
        (Role.ADMIN, True),
        (Role.TRADER, False),
        (Role.VIEWER, False),
    ]:
        data = as_role(org, role).get(f"/api/v1/webhooks/{webhook.id}/").json()
        assert (data["url"] is not None) is shown, role


def test_webhook_update_settings(api, org):
    webhook = webhook_create(organization=org, strategy=StrategyFactory(organization=org), name="h")
    response = api.patch(
        f"/api/v1/webhooks/{webhook.id}/",
        {"enabled": False, "allowedTickers": ["spy"], "duplicateWindowSeconds": 0},
        format="json",
    )
    assert response.status_code == 200, response.content
    webhook.refresh_from_db()
    assert (webhook.enabled, webhook.allowed_tickers, webhook.duplicate_window_seconds) == (
        False,
        ["SPY"],
        0,
    )


@pytest.mark.parametrize("slash", ["/", ""])
def test_regenerate_returns_a_new_url_and_the_old_password_stops_matching(api, org, slash):
    webhook = webhook_create(organization=org, strategy=StrategyFactory(organization=org), name="h")
    old_url = api.get(f"/api/v1/webhooks/{webhook.id}{slash}").json()["url"]
    # The issue writes POST /api/v1/webhooks/{id}/regenerate: both forms answer, no redirect.
    response = api.post(f"/api/v1/webhooks/{webhook.id}/regenerate{slash}")
    assert response.status_code == 200
    new_url = response.json()["url"]
    assert new_url != old_url and str(webhook.id) in new_url
    webhook.refresh_from_db()
    assert secret_matches(new_url.rsplit("/", 1)[1], webhook.password_digest)
    assert not secret_matches(old_url.rsplit("/", 1)[1], webhook.password_digest)


def test_webhook_plan_limit(api, org):
    org.max_webhooks = 1
    org.save()
    strategy = StrategyFactory(organization=org)
    payload = {"name": "h", "strategyId": str(strategy.id)}
    assert api.post("/api/v1/webhooks/", payload, format="json").status_code == 201
    refused = api.post("/api/v1/webhooks/", payload, format="json")
    assert refused.status_code == 409  # the request is fine; the stored webhooks are in the way
    assert refused.json() == {"non_field_errors": ["Your plan allows at most 1 webhooks."]}
    assert Webhook.objects.count() == 1


# --- API keys ------------------------------------------------------------------------


def test_api_key_raw_value_is_shown_once_and_never_listed(api, org):
    response = api.post(
        "/api/v1/api-keys/",
        {"name": "bot", "scopes": ["signals:write"], "mode": "live"},
        format="json",
    )
    assert response.status_code == 201, response.content
    raw = response.json()["key"]
    key = api_key_authenticate(raw=raw)
    assert key is not None and key.organization == org
    assert key.scopes == ["signals:write"] and key.mode == ApiKey.Mode.LIVE
    for url in ("/api/v1/api-keys/", f"/api/v1/api-keys/{key.id}/"):
        text = api.get(url).content.decode()
        assert raw not in text and key.digest not in text and '"key"' not in text


def test_api_key_default_scopes_and_bad_scope(api):
    assert api.post("/api/v1/api-keys/", {"name": "all"}, format="json").json()["scopes"] == [
        "read",
        "signals:write",
        "manage",
    ]
    bad = api.post("/api/v1/api-keys/", {"name": "x", "scopes": ["admin"]}, format="json")
    assert bad.status_code == 400 and "scopes" in bad.json()


@pytest.mark.parametrize("how", ["delete", "revoke"])
def test_revoked_key_stops_working(api, org, how):
    created = api.post("/api/v1/api-keys/", {"name": "bot"}, format="json").json()
    url = f"/api/v1/api-keys/{created['id']}/"
    response = api.delete(url) if how == "delete" else api.post(url + "revoke/")
    assert response.status_code in (200, 204)
    assert api_key_authenticate(raw=created["key"]) is None
    assert ApiKey.objects.get(pk=created["id"]).revoked_at is not None  # kept, for the log
    key_client = APIClient()
    key_client.credentials(HTTP_X_API_KEY=created["key"])
    assert key_client.get("/api/v1/strategies/").status_code == 401


# --- signals, orders, positions ------------------------------------------------------


def _send(raw, account, **fields):
    body = {"symbol": "AAPL", "action": "openLong", "accountId": str(account.id), "quantity": 10}
    return APIClient().post(
        INGEST,
        data=json.dumps({**body, **fields}),
        content_type="application/json",
        HTTP_X_API_KEY=raw,
    )


def test_signal_detail_shows_results_orders_and_timings(
    api, raw_key, paper_account, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        signal_id = _send(raw_key, paper_account, price=150).json()["signalId"]
    data = api.get(f"/api/v1/signals/{signal_id}/").json()
    assert data["status"] == "COMPLETED", data
    assert data["dialect"] == "utm" and data["errorCode"] is None
    [result] = data["results"]
    assert result["accountId"] == str(paper_account.id) and result["status"] == "ordered"
    [order] = result["orders"]
    assert {k: order[k] for k in ("symbol", "side", "quantity", "status")} == {
        "symbol": "AAPL",
        "side": "buy",
        "quantity": 10,
        "status": "filled",
    }
    assert order["filledQuantity"] == 10 and order["filledAvgPrice"] == 150
    assert [o["id"] for o in data["orders"]] == [order["id"]]
    assert data["timings"]["receivedAt"] and data["timings"]["completedAt"]
    positions = api.get(f"/api/v1/positions/?accountId={paper_account.id}").json()["results"]
    assert positions == [
        {
            "accountId": str(paper_account.id),
            "symbol": "AAPL",
            "quantity": 10,
            "side": "long",
            "averagePrice": 150,
            "updatedAt": positions[0]["updatedAt"],
        }
    ]


def test_broker_refusal_shows_as_broker_error_on_signal_and_order(
    api, raw_key, paper_account, django_capture_on_commit_callbacks
):
    # No price in the signal and none known: the paper broker refuses the market order.
    with django_capture_on_commit_callbacks(execute=True):
        signal_id = _send(raw_key, paper_account, symbol="ZZZNOPRICE").json()["signalId"]
    data = api.get(f"/api/v1/signals/{signal_id}/").json()
    assert data["status"] == "FAILED", data
    assert data["errorCode"] == "BROKER_ERROR" and data["error"]
    [order] = data["orders"]
    assert order["status"] in ("failed", "rejected") and order["errorCode"] == "BROKER_ERROR"
    assert order["error"]
    listed = api.get("/api/v1/signals/?status=FAILED").json()["results"]
    assert [row["errorCode"] for row in listed] == ["BROKER_ERROR"]
    assert not Position.objects.exists()


def test_signal_list_filters(api, org, raw_key, paper_account):
    _send(raw_key, paper_account)
    _send(raw_key, paper_account, symbol="MSFT")
    _send(raw_key, paper_account, action="dance")
    base = "/api/v1/signals/"
    assert api.get(base).json()["count"] == 3
    assert api.get(base + "?ticker=msft").json()["count"] == 1
    assert api.get(base + "?status=REJECTED").json()["count"] == 1
    assert api.get(base + "?dialect=traderspost").json()["count"] == 0
    assert api.get(base + "?since=2999-01-01T00:00:00Z").json()["count"] == 0
    assert api.get(base + f"?accountId={paper_account.id}").json()["count"] == 2
    for bad in ("?status=NOPE", "?since=yesterday", "?dialect=fix", "?accountId=1"):
        assert api.get(base + bad).status_code == 400, bad


def test_orders_list_filters_and_read_only(api, org):
    objects = make_tenant_objects(org)
    order = objects["orders"]
    assert api.get("/api/v1/orders/?status=new&symbol=aapl").json()["count"] == 1
    assert api.get("/api/v1/orders/?status=filled").json()["count"] == 0
    assert api.get(f"/api/v1/orders/?accountId={order.account_id}").json()["count"] == 1
    assert api.get("/api/v1/orders/?status=bogus").status_code == 400
    assert api.post("/api/v1/orders/", {}, format="json").status_code == 405
    assert api.delete(f"/api/v1/orders/{order.id}/").status_code == 405
    assert Order.objects.filter(pk=order.id).exists()


def test_positions_short_is_negative_and_account_filter_is_tenant_scoped(api, org, other_org):
    mine, theirs = make_tenant_objects(org), make_tenant_objects(other_org)
    account = mine["accounts"]
    rows = api.get(f"/api/v1/positions/?accountId={account.id}").json()["results"]
    assert [(r["symbol"], r["quantity"], r["side"]) for r in rows] == [("AAPL", -5, "short")]
    assert api.get(f"/api/v1/positions/?accountId={theirs['accounts'].id}").status_code == 404
    assert api.get("/api/v1/positions/?accountId=not-a-uuid").status_code == 400
    Position.objects.filter(pk=mine["positions"].pk).update(quantity=0)
    assert api.get("/api/v1/positions/").json()["results"] == []  # flat is not a position


# --- approvals -----------------------------------------------------------------------


@pytest.fixture
def pending_order(org, raw_key, paper_account, django_capture_on_commit_callbacks):
    strategy = StrategyFactory(organization=org)
    Subscription.objects.create(
        organization=org, strategy=strategy, account=paper_account, auto_submit=False
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = _send(raw_key, paper_account, price=100, strategyId=str(strategy.id))
    signal = Signal.objects.get(pk=response.json()["signalId"])
    order = Order.objects.get(signal=signal, parent__isnull=True)
    assert order.status == Order.Status.PENDING_APPROVAL
    return order


@pytest.mark.parametrize("role", [Role.OWNER, Role.TRADER])
def test_trader_approves_a_pending_order(org, pending_order, role):
    response = as_role(org, role).post(f"/api/v1/orders/{pending_order.id}/approve/")
    assert response.status_code == 200, response.content
    pending_order.refresh_from_db()
    assert pending_order.status == Order.Status.FILLED
    again = as_role(org, role).post(f"/api/v1/orders/{pending_order.id}/approve/")
    assert again.status_code == 409


def test_key_decisions_are_not_attributed_to_the_keys_creator(org, owner, pending_order):
    _, raw = api_key_create(organization=org, name="bot", created_by=owner)
    bot = APIClient()
    bot.credentials(HTTP_X_API_KEY=raw)
    assert bot.post(f"/api/v1/orders/{pending_order.id}/reject/").status_code == 200
    pending_order.refresh_from_db()
    assert owner.email not in pending_order.error
    created = bot.post("/api/v1/api-keys/", {"name": "child"}, format="json").json()
    assert ApiKey.objects.get(pk=created["id"]).created_by is None


def test_session_key_creation_records_the_person(api, owner):
    created = api.post("/api/v1/api-keys/", {"name": "mine"}, format="json").json()
    assert ApiKey.objects.get(pk=created["id"]).created_by == owner


def test_reject_cancels_and_never_submits(org, pending_order):
    response = as_role(org, Role.TRADER).post(f"/api/v1/orders/{pending_order.id}/reject/")
    assert response.status_code == 200
    pending_order.refresh_from_db()
    assert pending_order.status == Order.Status.CANCELED and not pending_order.broker_order_id
    assert not Position.objects.exists()


@pytest.mark.parametrize("action", ["approve", "reject"])
def test_viewer_and_outsider_cannot_decide(org, other_org, pending_order, outsider, action):
    url = f"/api/v1/orders/{pending_order.id}/{action}/"
    assert as_role(org, Role.VIEWER).post(url).status_code == 403
    outsider_client = APIClient()
    outsider_client.force_login(outsider)
    assert outsider_client.post(url).status_code == 404
    read_key = APIClient()
    read_key.credentials(
        HTTP_X_API_KEY=api_key_create(organization=org, name="r", scopes=["read"])[1]
    )
    assert read_key.post(url).status_code == 403
    pending_order.refresh_from_db()
    assert pending_order.status == Order.Status.PENDING_APPROVAL


@pytest.mark.parametrize(
    "query",
    ["limit=105780249335193602542745685057339392", "offset=99999999999999999999999"],
)
def test_absurd_pagination_is_clamped_not_a_500(api, org, query):
    make_tenant_objects(org)
    for name in ("positions", "signals", "orders", "accounts"):
        response = api.get(f"/api/v1/{name}/?{query}")
        assert response.status_code == 200, (name, response.content)


def test_page_size_is_capped(api, org):
    for n in range(3):
        StrategyFactory(organization=org, name=f"s{n}")
    data = api.get("/api/v1/strategies/?limit=2").json()
    assert data["count"] == 3 and len(data["results"]) == 2 and data["next"]


@pytest.mark.parametrize("name", ["accounts", "subscriptions", "webhooks", "signals", "orders"])
def test_browsable_api_renders_for_members_and_refuses_anonymous(org, owner, name):
    objects = make_tenant_objects(org)
    assert APIClient().get(f"/api/v1/{name}/", HTTP_ACCEPT="text/html").status_code == 401
    browser = APIClient()
    browser.force_login(owner)
    assert browser.get(f"/api/v1/{name}/", HTTP_ACCEPT="text/html").status_code == 200
    detail = browser.get(f"/api/v1/{name}/{objects[name].pk}/", HTTP_ACCEPT="text/html")
    assert detail.status_code == 200


def test_session_writes_need_the_csrf_token(org, owner):
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(owner)
    assert browser.get("/api/v1/strategies/").status_code == 200
    response = browser.post("/api/v1/strategies/", {"name": "no token"}, format="json")
    assert response.status_code == 403
    assert not Strategy.objects.exists()


def test_api_key_in_the_query_string_works_for_the_rest_api(org, make_key):
    _, raw = make_key(scopes=["read"])
    StrategyFactory(organization=org, name="visible")
    response = APIClient().get(f"/api/v1/strategies/?apiKey={raw}")
    assert response.status_code == 200
    assert [row["name"] for row in response.json()["results"]] == ["visible"]


def test_full_update_with_put(api, org):
    strategy = StrategyFactory(organization=org, name="old")
    response = api.put(
        f"/api/v1/strategies/{strategy.id}/",
        {"name": "new", "description": "d", "assetClass": "future", "enabled": False},
        format="json",
    )
    assert response.status_code == 200, response.content
    strategy.refresh_from_db()
    assert (strategy.name, strategy.asset_class, strategy.enabled) == ("new", "future", False)


@pytest.mark.parametrize("path", ["/api/v1/positions", "/api/v1/signals", "/api/v1/orders"])
def test_list_paths_answer_without_a_trailing_slash(api, org, path):
    response = api.get(path)
    assert response.status_code == 200
    assert response.json() == api.get(path + "/").json()
