"""Webhook pages: create, edit (restrictions, duplicate window), enable/disable, delete,
Generate New URL behind a confirmation, the URL/alert message/curl shown only to those
who may change webhooks; the owner / admin / trader / viewer / outsider matrix."""

import json

import pytest

from accounts.models import Role
from tests.dashboard.conftest import (
    EVERYONE,
    WRITERS,
    expected_get,
    expected_post,
    post_forms_in_main,
)
from tests.factories import InstrumentFactory, StrategyFactory
from webhooks.models import Webhook
from webhooks.services import webhook_create, webhook_url

pytestmark = pytest.mark.django_db

PLACEHOLDERS = [
    "{{ticker}}",
    "{{strategy.order.action}}",
    "{{strategy.market_position}}",
    "{{strategy.order.contracts}}",
    "{{close}}",
]


@pytest.fixture
def strategy(org):
    return StrategyFactory(organization=org, name="Trend")


@pytest.fixture
def webhook(org, strategy):
    return webhook_create(organization=org, strategy=strategy, name="TV alerts")


def _form(strategy, **overrides) -> dict:
    data = {
        "name": "New hook",
        "strategy": str(strategy.id),
        "enabled": "on",
        "asset_class": "stock",
        "allowed_ips": "",
        "allowed_tickers": "",
        "duplicate_window_seconds": "20",
    }
    return data | overrides


@pytest.mark.parametrize("role", EVERYONE)
def test_webhook_page(client_as, role, webhook):
    response = client_as(role).get(f"/webhooks/{webhook.id}/")
    assert response.status_code == expected_get(role)
    if role == "outsider":
        return
    page = response.content.decode()
    shows_url = webhook_url(webhook=webhook, base_url="http://testserver") in page
    assert shows_url == (role in WRITERS)
    if role in WRITERS:
        assert all(placeholder in page for placeholder in PLACEHOLDERS)
        assert "curl -X POST" in page
        assert 'data-copy="webhook-url"' in page
    else:
        assert post_forms_in_main(response) == 0


def test_alert_message_is_json_that_the_endpoint_reads(client_as, webhook):
    from dashboard.views.webhooks import TRADINGVIEW_MESSAGE

    response = client_as(Role.TRADER).get(f"/webhooks/{webhook.id}/")
    assert json.dumps(TRADINGVIEW_MESSAGE, indent=2) in _unescaped(response)
    assert set(TRADINGVIEW_MESSAGE) <= {
        "ticker",
        "action",
        "sentiment",
        "quantity",
        "price",
        "time",
    }


def _unescaped(response) -> str:
    import html

    return html.unescape(response.content.decode())


@pytest.mark.parametrize("role", EVERYONE)
def test_create_webhook(client_as, role, org, strategy):
    response = client_as(role).post("/webhooks/", _form(strategy))
    created = Webhook.objects.for_org(org).filter(name="New hook")
    if role in WRITERS:
        assert response.status_code == 302
        assert response["Location"] == f"/webhooks/{created.get().id}/"
    else:
        assert not created.exists()


def test_another_organizations_strategy_is_not_a_choice(client_as, org, other_org):
    foreign = StrategyFactory(organization=other_org)
    StrategyFactory(organization=org)
    response = client_as(Role.OWNER).post("/webhooks/", _form(foreign))
    assert response.status_code == 200
    assert b"Select a valid choice" in response.content
    assert not Webhook.objects.exists()


@pytest.mark.parametrize(
    "field, value, _message",
    [
        ("allowed_ips", "10.0.0.0/8\nnot-an-ip", "Not an IP address or CIDR network: not-an-ip"),
        ("duplicate_window_seconds", "99999", "Between 0 (off) and 3600 seconds."),
        ("duplicate_window_seconds", "-1", "Ensure this value is greater than or equal to 0."),
        ("name", "", "This field is required."),
    ],
)
def test_bad_settings_are_field_errors(client_as, strategy, field, value, _message):
    response = client_as(Role.TRADER).post("/webhooks/", _form(strategy, **{field: value}))
    assert response.status_code == 200
    page = _unescaped(response)
    # Next to its field; the wording is webhooks.services' (webhook_validate).
    assert f'id="id_{field}_error"' in page, page[page.find("errorlist") - 200 :][:600]
    assert not Webhook.objects.exists()


@pytest.mark.parametrize("role", EVERYONE)
def test_edit_restrictions(client_as, role, webhook, strategy):
    data = _form(
        strategy,
        name="TV alerts",
        limit_to_tradingview="on",
        allowed_ips="203.0.113.7, 10.0.0.0/8",
        allowed_tickers="aapl\nmsft",
        duplicate_window_seconds="0",
    )
    response = client_as(role).post(f"/webhooks/{webhook.id}/edit/", data)
    assert response.status_code == expected_post(role)
    webhook.refresh_from_db()
    changed = role in WRITERS
    assert webhook.limit_to_tradingview == changed
    assert webhook.allowed_ips == (["203.0.113.7/32", "10.0.0.0/8"] if changed else [])
    assert webhook.allowed_tickers == (["AAPL", "MSFT"] if changed else [])
    assert webhook.duplicate_window_seconds == (0 if changed else 20)


@pytest.mark.parametrize("role", EVERYONE)
def test_toggle(client_as, role, webhook):
    response = client_as(role).post(f"/webhooks/{webhook.id}/toggle/")
    assert response.status_code == expected_post(role)
    webhook.refresh_from_db()
    assert webhook.enabled == (role not in WRITERS)


def test_a_disabled_webhook_refuses_signals(client_as, client, webhook):
    InstrumentFactory(symbol="AAPL")
    client_as(Role.TRADER).post(f"/webhooks/{webhook.id}/toggle/")
    answer = client.post(
        webhook_url(webhook=webhook, base_url="/"),
        '{"ticker": "AAPL", "action": "buy"}',
        content_type="text/plain",
    )
    assert answer.json()["messageCode"] == "webhook-disabled"


@pytest.mark.parametrize("role", EVERYONE)
def test_generate_new_url(client_as, client, role, webhook):
    InstrumentFactory(symbol="AAPL")
    old_path = webhook_url(webhook=webhook, base_url="/")
    person = client_as(role)
    confirm = person.get(f"/webhooks/{webhook.id}/rotate/")
    assert confirm.status_code == expected_form_page(role)
    webhook.refresh_from_db()
    assert webhook_url(webhook=webhook, base_url="/") == old_path  # GET changes nothing
    response = person.post(f"/webhooks/{webhook.id}/rotate/")
    assert response.status_code == expected_post(role)
    webhook.refresh_from_db()
    rotated = webhook_url(webhook=webhook, base_url="/") != old_path
    assert rotated == (role in WRITERS)
    answer = client.post(old_path, '{"ticker": "AAPL", "action": "buy"}', content_type="text/plain")
    assert (answer.json().get("messageCode") == "invalid-password") == rotated


def expected_form_page(role: str) -> int:
    """A page that is only a form (a confirmation): a viewer is refused it (403)."""
    return 403 if role == Role.VIEWER else expected_get(role)


@pytest.mark.parametrize("role", EVERYONE)
def test_delete(client_as, role, webhook):
    person = client_as(role)
    assert person.get(f"/webhooks/{webhook.id}/delete/").status_code == expected_form_page(role)
    assert Webhook.objects.filter(pk=webhook.pk).exists()
    response = person.post(f"/webhooks/{webhook.id}/delete/")
    assert response.status_code == expected_post(role)
    assert Webhook.objects.filter(pk=webhook.pk).exists() == (role not in WRITERS)


def test_delete_needs_the_csrf_token(client_as, webhook):
    response = client_as(Role.OWNER, csrf=True).post(f"/webhooks/{webhook.id}/delete/")
    assert response.status_code == 403
    assert Webhook.objects.filter(pk=webhook.pk).exists()


def test_test_signal_form_posts_to_the_webhook_path(client_as, webhook):
    response = client_as(Role.TRADER).get(f"/webhooks/{webhook.id}/")
    path = webhook_url(webhook=webhook, base_url="/")
    assert f'action="{path}" data-test-signal="test-answer"' in response.content.decode()
