"""Every built page in real headless Chromium: axe-core finds no serious or critical
accessibility violation, no JavaScript error, and nothing is wider than a 390 px phone.
Screenshots at 1280 and 390 wide go to a temporary folder, or to docs/screenshots/ with
UPDATE_SCREENSHOTS=1 (how the README's pictures are made)."""

import os
from pathlib import Path

import pytest
from allauth.account.models import EmailAddress
from django.test import Client

from accounts.models import Role
from signals.models import Signal
from tests.browser import axe_violations
from tests.factories import (
    BrokerAccountFactory,
    InstrumentFactory,
    MembershipFactory,
    StrategyFactory,
    SubscriptionFactory,
)
from webhooks.services import webhook_create, webhook_url

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct horse battery"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def tenant(org):
    owner = MembershipFactory(
        organization=org, role=Role.OWNER, user__email="trader@example.com"
    ).user
    EmailAddress.objects.create(user=owner, email=owner.email, verified=True, primary=True)
    InstrumentFactory(symbol="AAPL")
    account = BrokerAccountFactory(organization=org, name="Paper account")
    strategy = StrategyFactory(organization=org, name="Trend following")
    subscription = SubscriptionFactory(strategy=strategy, account=account)
    webhook = webhook_create(
        organization=org, strategy=strategy, name="TradingView alerts", duplicate_window_seconds=0
    )
    careful = BrokerAccountFactory(organization=org, name="Careful paper")
    SubscriptionFactory(
        strategy=strategy, account=careful, auto_submit=False, approval_timeout_seconds=3600
    )
    path = webhook_url(webhook=webhook, base_url="/")
    sender = Client()
    sender.post(
        path,
        '{"ticker": "AAPL", "action": "buy", "price": 190.5, "quantity": 3}',
        content_type="text/plain",
    )
    sender.post(path, '{"ticker": "AAPL", "action": "jump"}', content_type="text/plain")
    # A resting limit order: the account page and the orders page offer to cancel it.
    sender.post(
        path,
        '{"ticker": "AAPL", "action": "add", "price": 190.5, "quantity": 1,'
        ' "orderType": "limit", "limitPrice": 180}',
        content_type="text/plain",
    )
    accepted = Signal.objects.filter(status="COMPLETED").order_by("received_at").first()
    return {
        "owner": owner,
        "account": account,
        "strategy": strategy,
        "subscription": subscription,
        "webhook": webhook,
        "signal": accepted,
    }


def _pages(t) -> dict[str, str]:
    return {
        "home": "/",
        "signals": "/signals/",
        "signal": f"/signals/{t['signal'].id}/",
        "strategies": "/strategies/",
        "strategy": f"/strategies/{t['strategy'].id}/",
        "subscription": f"/subscriptions/{t['subscription'].id}/",
        "webhooks": "/webhooks/",
        "webhook": f"/webhooks/{t['webhook'].id}/",
        "webhook-edit": f"/webhooks/{t['webhook'].id}/edit/",
        "webhook-rotate": f"/webhooks/{t['webhook'].id}/rotate/",
        "webhook-delete": f"/webhooks/{t['webhook'].id}/delete/",
        "accounts": "/broker-accounts/",
        "account": f"/broker-accounts/{t['account'].id}/",
        "approvals": "/approvals/",
        "members": "/members/",
        "api-keys": "/api-keys/",
        "organization-new": "/organizations/new/",
        "subscribe": f"/strategies/{t['strategy'].id}/subscribe/",
        "subscription-preview": f"/subscriptions/{t['subscription'].id}/preview/?"
        "preview-ticker=AAPL&preview-action=sell&preview-quantity=10&preview-price=190",
        "two-factor": "/accounts/2fa/",
        "two-factor-setup": "/accounts/2fa/totp/activate/",
        "password-change": "/accounts/password/change/",
    }


# Pages whose htmx part loads after the page: measured once it is there.
LOADS_LATER = {"subscription": "#preview-result .preview", "subscribe": "#preview-result .preview"}


def _folder(tmp_path) -> Path:
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return SCREENSHOTS
    return tmp_path


def _check(page, name: str, folder: Path) -> list[str]:
    problems = [f"{name}: {v}" for v in axe_violations(page)]
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        # Resize observers (the chart) redraw on the next frames: measure after them.
        page.evaluate(
            "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
        )
        overflow = page.evaluate("document.documentElement.scrollWidth") - width
        if overflow > 0:
            problems.append(f"{name}: {overflow} px wider than {width}")
        page.screenshot(path=str(folder / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    return problems


def test_visitor_pages(browser_page, tmp_path):
    page, folder, problems = browser_page, _folder(tmp_path), []
    for name, path in {
        "landing": "/",
        "login": "/accounts/login/",
        "signup": "/accounts/signup/",
        "password-reset": "/accounts/password/reset/",
    }.items():
        page.goto(path)
        problems += _check(page, name, folder)
    assert problems == []
    assert page.js_errors == []


def test_member_pages(browser_page, tenant, tmp_path):
    page, folder, problems = browser_page, _folder(tmp_path), []
    page.goto("/accounts/login/")
    page.fill("input[name=login]", tenant["owner"].email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/")
    # An account that follows nothing yet, so "Subscribe an account" has one to offer.
    BrokerAccountFactory(organization=tenant["account"].organization, name="Spare paper")
    for name, path in _pages(tenant).items():
        response = page.goto(path)
        assert response.status == 200, name
        if "/accounts/reauthenticate/" in page.url:
            # allauth asks for the password again before two-factor is turned on.
            problems += _check(page, "reauthenticate", folder)
            page.fill("input[name=password]", PASSWORD)
            page.locator("main button[type=submit]").first.click()
            page.wait_for_url(f"**{path}")
        assert "/accounts/login/" not in page.url, name
        if name in LOADS_LATER:
            page.locator(LOADS_LATER[name]).wait_for()
        problems += _check(page, name, folder)
    assert problems == []
    assert page.js_errors == []


def test_axe_finds_a_planted_violation(browser_page):
    """The check above is not vacuous: an image without alt text and an unlabeled
    input are reported."""
    browser_page.set_content(
        '<html lang="en"><body><main><img src="x.png"><input></main></body></html>'
    )
    found = {v["id"] for v in axe_violations(browser_page)}
    assert "image-alt" in found
