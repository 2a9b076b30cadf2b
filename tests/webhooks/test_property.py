"""Whatever is thrown at a known webhook: never a 5xx, always the dialect's envelope,
exactly one signal log row per request, and every accepted signal ends COMPLETED or with
an ordinary trading reason (never a storage error)."""

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from signals.models import Signal
from tests import hostile
from tests.factories import SubscriptionFactory
from tests.webhooks.conftest import assert_schema

pytestmark = pytest.mark.django_db

FIELDS = [
    "ticker",
    "action",
    "sentiment",
    "price",
    "signalPrice",
    "quantity",
    "quantityType",
    "orderType",
    "limitPrice",
    "stopPrice",
    "trailAmount",
    "trailPercent",
    "timeInForce",
    "takeProfit",
    "stopLoss",
    "extendedHours",
    "time",
    "interval",
    "extras",
    "optionType",
    "intrinsicValue",
    "expiration",
    "strikeCount",
    "strikesAway",
    "strikePrice",
    "test",
]
PLAUSIBLE = st.sampled_from(
    ["AMD", "buy", "sell", "exit", "long", "flat", "5", "-1", "1e400", "", " ", "NaN"]
    + ["stop", "trailing_stop", "day", "+6 months", "2024-05-06", "\x00", "\ud800"]
)
JSON_VALUES = PLAUSIBLE | hostile.JSON_VALUES
LEGS = st.fixed_dictionaries(
    {},
    optional=dict.fromkeys(
        ["type", "percent", "amount", "stopPrice", "limitPrice", "trailAmount", "trailPercent"],
        JSON_VALUES,
    ),
)
# Characters PostgreSQL or a cache key cannot take, mixed into ticker-like text.
AWKWARD_TEXT = st.text(
    alphabet=st.sampled_from(["A", "Q", "1", "!", " ", ":", "/", "\x00", "\ud800", "\u00e9"]),
    max_size=12,
)
BODIES = st.fixed_dictionaries(
    {
        "ticker": PLAUSIBLE | AWKWARD_TEXT | JSON_VALUES,
        "action": PLAUSIBLE | AWKWARD_TEXT | JSON_VALUES,
    },
    optional={
        name: (LEGS if name in ("takeProfit", "stopLoss") else PLAUSIBLE | JSON_VALUES)
        for name in FIELDS[2:]
    },
)
ACTIONS = ["buy", "sell", "exit", "add", "cancel"]
NUMERIC = ["price", "signalPrice", "quantity", "limitPrice", "stopPrice", "trailAmount"]
NUMERIC += ["trailPercent", "strikePrice"]
NUMERIC_LEGS = st.fixed_dictionaries(
    {},
    optional=dict.fromkeys(
        ["percent", "amount", "stopPrice", "limitPrice", "trailAmount", "trailPercent"],
        hostile.NUMBERS,
    ),
)
# Bodies that pass the ticker and action checks, so the numbers are what is tried (and
# some are accepted, then processed).
NEARLY_VALID = st.fixed_dictionaries(
    {"ticker": st.sampled_from(["AMD", "TSLA", "AAPL"]), "action": st.sampled_from(ACTIONS)},
    optional={
        **dict.fromkeys(NUMERIC, hostile.NUMBERS),
        "quantityType": st.sampled_from(["fixed_quantity", "dollar_amount", "percent_of_equity"]),
        "orderType": st.sampled_from(["market", "limit", "stop", "stop_limit"]),
        "takeProfit": NUMERIC_LEGS,
        "stopLoss": NUMERIC_LEGS,
        "extras": st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=3),
        "comment": hostile.UNSAFE_TEXT | hostile.LONG_TEXT,
    },
)
_encode = hostile.encode


PAYLOADS = (
    st.binary(max_size=300)
    | JSON_VALUES.map(_encode)
    | BODIES.map(_encode)
    | NEARLY_VALID.map(_encode)
    | NEARLY_VALID.map(_encode)
    | st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass"))
)
CONTENT_TYPES = st.sampled_from(
    [
        "text/plain",
        "application/json",
        "",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ]
)
METHODS = st.sampled_from(["post"] * 8 + ["get", "put"])


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=PAYLOADS, content_type=CONTENT_TYPES, method=METHODS, ip=st.ip_addresses().map(str))
def test_never_a_5xx_always_the_envelope(make_webhook, client, body, content_type, method, ip):
    hook, path = _hook(make_webhook)
    before = Signal.objects.filter(webhook=hook).count()
    kwargs = {"REMOTE_ADDR": ip}
    if method == "get":
        response = client.get(path, **kwargs)
    else:
        response = getattr(client, method)(path, data=body, content_type=content_type, **kwargs)
    assert response.status_code in (200, 400, 429)
    event(f"HTTP {response.status_code}")  # --hypothesis-show-statistics: how many got in
    answer = assert_schema(response)
    assert answer["success"] is (response.status_code == 200)
    if not answer["success"]:
        assert answer["messageCode"] and answer["message"] and answer["logId"]
    assert Signal.objects.filter(webhook=hook).count() == before + 1
    if answer["success"] and _RUNS.setdefault(id(make_webhook), [0])[0] < MAX_RUNS:
        _RUNS[id(make_webhook)][0] += 1
        hostile.assert_ends_ordinarily(answer["id"])


# Processing an accepted signal costs far more than answering it: a bounded number per run.
MAX_RUNS = 40
_HOOKS: dict = {}
_RUNS: dict = {}


def _hook(make_webhook):
    # One webhook per test run (the fixture is function scoped; examples share it), with an
    # account subscribed so that an accepted signal is planned and placed.
    key = id(make_webhook)
    if key not in _HOOKS:
        _HOOKS.clear()
        _RUNS.clear()
        _HOOKS[key] = make_webhook(duplicate_window_seconds=0)
        SubscriptionFactory(strategy=_HOOKS[key][0].strategy)
    return _HOOKS[key]


@pytest.fixture(autouse=True)
def _no_rate_limits(settings):
    settings.RATELIMIT_ENABLE = False


SEGMENTS = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="/?#"),
    min_size=1,
    max_size=40,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(webhook_id=SEGMENTS, password=SEGMENTS, body=PAYLOADS)
def test_arbitrary_urls_never_5xx(client, webhook_id, password, body):
    from urllib.parse import quote

    path = f"/trading/webhook/{quote(webhook_id, safe='')}/{quote(password, safe='')}"
    response = client.post(path, data=body, content_type="text/plain", REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 404
    assert response.json() == {
        "success": False,
        "messageCode": "not-found",
        "message": "Webhook not found.",
    }
