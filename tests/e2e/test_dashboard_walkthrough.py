"""A new trader's first session in real headless Chromium, against the live server, a
real Celery worker on Redis and PostgreSQL: sign up, verify the email from the outbox,
create an organization, a paper account, a strategy, a subscription and a webhook, copy
the URL, send a test signal through the real endpoint, watch it appear in the log with
its filled order without reloading, open its page, then Generate New URL and see the old
one refused."""

import re

import pytest
from django.core import mail

from brokers.models import Order
from tests.browser import browser_page, chromium  # noqa: F401  (fixtures)
from tests.factories import InstrumentFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

EMAIL = "first.trader@example.com"
PASSWORD = "a long pass phrase 42"


def _sign_up_and_verify(page):
    page.goto("/")
    page.get_by_role("link", name="Create a free account").click()
    page.fill("input[name=email]", EMAIL)
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.get_by_role("button", name="Sign Up").click()
    page.wait_for_url("**/accounts/confirm-email/")
    (message,) = mail.outbox
    link = re.search(r"https?://[^/\s]+(/accounts/confirm-email/[^/\s]+/)", message.body)
    page.goto(link.group(1))
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url("**/organizations/new/")


def _set_up_trading(page):
    page.fill("input[name=name]", "My desk")
    page.get_by_role("button", name="Create organization").click()
    page.get_by_role("link", name="Add a paper account").click()
    page.get_by_role("button", name="Add paper account").click()
    page.get_by_text("Paper account: play money").wait_for()
    page.get_by_role("link", name="Strategies").click()
    page.fill("input[name=name]", "Trend")
    page.get_by_role("button", name="Create strategy").click()
    page.get_by_role("link", name="Subscribe an account").click()
    page.get_by_role("button", name="Subscribe", exact=True).click()
    page.get_by_text("now follows Trend").wait_for()
    page.get_by_role("link", name="Webhooks").click()
    page.fill("input[name=name]", "TradingView alerts")
    page.select_option("select[name=strategy]", label="Trend")
    page.fill("input[name=duplicate_window_seconds]", "0")
    page.get_by_role("button", name="Create webhook").click()
    page.get_by_role("heading", name="Webhook URL").wait_for()


def test_first_session(browser_page, live_server, worker):  # noqa: F811 (fixture)
    InstrumentFactory(symbol="AAPL")
    page = browser_page
    _sign_up_and_verify(page)
    _set_up_trading(page)

    page.click("[data-copy=webhook-url]")
    url = page.input_value("#webhook-url")
    assert "/trading/webhook/" in url
    assert page.evaluate("navigator.clipboard.readText()") == url
    webhook_page = page.url

    log = page.context.new_page()
    log.goto(f"{live_server.url}/signals/")
    log.get_by_text("No signals yet.").wait_for()
    log.evaluate("window.stillTheSamePage = true")

    page.get_by_role("button", name="Send test signal").click()
    page.wait_for_function(
        "document.getElementById('test-answer').textContent.includes('HTTP 200')"
    )
    assert '"success": true' in page.text_content("#test-answer")

    # The log page was never reloaded: htmx brought the signal in, then its fill.
    log.locator("#signal-rows").get_by_text("Filled").wait_for(timeout=20_000)
    assert log.evaluate("window.stillTheSamePage") is True
    assert "buy 1 AAPL" in log.text_content("#signal-rows")
    assert Order.objects.get().status == Order.Status.FILLED

    log.locator("#signal-rows a").first.click()
    log.get_by_role("heading", name="Per account", exact=True).wait_for()
    assert "Filled" in log.text_content("main")
    assert '"success": true' in log.text_content("main")

    page.goto(webhook_page)
    old_path = "/" + url.split("/", 3)[3]
    page.get_by_role("link", name="Generate New URL").click()
    page.get_by_role("button", name="Generate New URL").click()
    page.get_by_text("New URL generated").wait_for()
    assert page.input_value("#webhook-url") != url
    answer = page.evaluate(
        "async (path) => (await fetch(path, {method: 'POST', body: '{}'})).json()", old_path
    )
    assert answer["messageCode"] == "invalid-password"
    assert page.js_errors == []
