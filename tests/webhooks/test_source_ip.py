import pytest
from django.test import RequestFactory

from signals.models import Signal
from webhooks.ingress import client_ip

pytestmark = pytest.mark.django_db

TP = {"ticker": "AMD", "action": "buy"}
PROXY = "10.0.0.5"


@pytest.mark.parametrize(
    ("settings_fields", "ip", "code"),
    [
        ({"limit_to_tradingview": True}, "52.89.214.238", None),
        ({"limit_to_tradingview": True}, "34.212.75.30", None),
        ({"limit_to_tradingview": True}, "54.218.53.128", None),
        ({"limit_to_tradingview": True}, "52.32.178.7", None),
        ({"limit_to_tradingview": True}, "3.12.143.24", "not-trading-view"),
        ({"limit_to_trendspider": True}, "3.12.143.24", None),
        ({"limit_to_trendspider": True}, "52.89.214.238", "not-trend-spider"),
        ({"allowed_ips": ["198.51.100.0/24"]}, "198.51.100.77", None),
        ({"allowed_ips": ["198.51.100.7"]}, "198.51.100.7", None),
        ({"allowed_ips": ["198.51.100.7"]}, "198.51.100.8", "invalid-ip-address"),
        ({"allowed_ips": ["2001:db8::/32"]}, "2001:db8::1", None),
        ({"allowed_ips": ["198.51.100.7"]}, "::ffff:198.51.100.7", None),
        ({"limit_to_tradingview": True, "allowed_ips": ["198.51.100.7"]}, "198.51.100.7", None),
        (
            {"limit_to_tradingview": True, "allowed_ips": ["198.51.100.7"]},
            "1.1.1.1",
            "not-trading-view",
        ),
        ({}, "1.1.1.1", None),
    ],
)
def test_source_restrictions(make_webhook, send, settings_fields, ip, code):
    _, path = make_webhook(**settings_fields)
    response = send(path, TP, ip=ip)
    signal = Signal.objects.get()
    assert signal.source_ip == ip.removeprefix("::ffff:") or signal.source_ip == ip
    if code is None:
        assert response.status_code == 200 and signal.status == Signal.Status.PENDING
    else:
        assert response.status_code == 400 and response.json()["messageCode"] == code
        assert signal.message_code == code and not response.enqueued


def test_forged_forwarded_for_never_passes_a_restriction(make_webhook, send):
    _, path = make_webhook(limit_to_tradingview=True)
    response = send(path, TP, ip="198.51.100.9", HTTP_X_FORWARDED_FOR="52.89.214.238")
    assert response.json()["messageCode"] == "not-trading-view"
    assert Signal.objects.get().source_ip == "198.51.100.9"


def test_trusted_proxy_forwards_the_client_ip(make_webhook, send, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    _, path = make_webhook(limit_to_tradingview=True)
    response = send(path, TP, ip=PROXY, HTTP_X_FORWARDED_FOR="52.89.214.238")
    assert response.status_code == 200
    assert Signal.objects.get().source_ip == "52.89.214.238"


def test_forgery_through_a_trusted_proxy_still_fails(make_webhook, send, settings):
    # The client put TradingView's IP first; the proxy appended the real peer.
    settings.TRUSTED_PROXIES = [PROXY]
    _, path = make_webhook(limit_to_tradingview=True)
    response = send(path, TP, ip=PROXY, HTTP_X_FORWARDED_FOR="52.89.214.238, 198.51.100.9")
    assert response.json()["messageCode"] == "not-trading-view"
    assert Signal.objects.get().source_ip == "198.51.100.9"


@pytest.mark.parametrize(
    ("trusted", "remote", "forwarded", "expected"),
    [
        ([], "198.51.100.1", "52.89.214.238", "198.51.100.1"),
        (["10.0.0.5"], "198.51.100.1", "52.89.214.238", "198.51.100.1"),
        (["10.0.0.5"], "10.0.0.5", "", "10.0.0.5"),
        (["10.0.0.0/8"], "10.0.0.5", "1.2.3.4, 10.0.0.9", "1.2.3.4"),
        (["10.0.0.0/8"], "10.0.0.5", "garbage", None),
        (["10.0.0.0/8"], "10.0.0.5", "10.0.0.7, 10.0.0.9", "10.0.0.5"),
        ([], "not an ip", "", None),
    ],
)
def test_client_ip(settings, trusted, remote, forwarded, expected):
    settings.TRUSTED_PROXIES = trusted
    request = RequestFactory().post("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected
