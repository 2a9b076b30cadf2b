"""A trader connects Alpaca in real Chromium: the add form against the loopback Alpaca
stand-in (tests/standins/alpaca.py, settings pointed at it for the live server), Test
connection answers over htmx, the position drift page; axe-core finds no serious or
critical violation on the new pages, and the secret never reaches the browser."""

import uuid

import pytest
from allauth.account.models import EmailAddress

from accounts.models import Role
from brokers.models import BrokerAccount, PositionDrift
from execution.reconcile import reconcile
from tests.dashboard.test_browser import PASSWORD, _check, _folder
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def owner(org):
    user = MembershipFactory(
        organization=org, role=Role.OWNER, user__email="trader@example.com"
    ).user
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def test_connect_alpaca_and_test_the_connection(browser_page, owner, org, alpaca_standin, tmp_path):
    page, folder, problems = browser_page, _folder(tmp_path), []
    key_id, secret = f"PK{uuid.uuid4().hex[:18].upper()}", uuid.uuid4().hex
    alpaca_standin.add_account(key_id, secret)

    page.goto("/accounts/login/")
    page.fill("input[name=login]", owner.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/")

    page.goto("/broker-accounts/")
    page.get_by_role("link", name="Add Alpaca account").click()
    page.wait_for_url("**/broker-accounts/new/alpaca/")
    problems += _check(page, "account-new-alpaca", folder)
    page.get_by_label("Name").fill("Alpaca paper")
    page.get_by_label("Paper").check()
    page.get_by_label("API key ID").fill(key_id)
    page.get_by_label("Secret key").fill(secret)
    page.get_by_role("button", name="Add Alpaca account").click()
    page.wait_for_url("**/broker-accounts/*-*/")
    account = BrokerAccount.objects.for_org(org).get(name="Alpaca paper")
    assert (account.broker, account.mode, account.status) == ("alpaca", "paper", "active")
    assert secret not in page.content()

    page.get_by_role("button", name="Test connection").click()
    result = page.locator("#connection-result.success")
    result.wait_for()
    assert "Connection OK: Alpaca paper account PA" in result.inner_text()
    problems += _check(page, "account-alpaca", folder)

    # Someone bought 5 AAPL at Alpaca outside TradeRelay: reconciliation records drift.
    alpaca_standin.set_position(key_id, "AAPL", 5, 190)
    reconcile(accounts=[account])
    drift = PositionDrift.objects.get(account=account, resolved_at=None)
    assert (drift.symbol, drift.ours, drift.brokers) == ("AAPL", 0, 5)
    page.reload()
    page.get_by_role("link", name="1 open position drift").click()
    page.wait_for_url(f"**/broker-accounts/{account.id}/drift/")
    assert "AAPL" in page.locator("main table").inner_text()
    problems += _check(page, "account-drift", folder)

    page.goto(f"/broker-accounts/{account.id}/edit/")
    assert page.get_by_label("Secret key").input_value() == ""
    assert secret not in page.content()
    problems += _check(page, "account-edit", folder)

    # Kraken has no sandbox: paper is not offered, and the mode field says why.
    page.goto("/broker-accounts/new/kraken/")
    assert page.get_by_label("Paper").count() == 0
    assert page.get_by_label("Live").is_checked()
    assert "no sandbox" in page.locator("fieldset").first.inner_text()
    problems += _check(page, "account-new-kraken", folder)

    assert problems == []
    assert page.js_errors == []
