"""Property: whatever body a client sends to a REST API writer (POST, PUT, PATCH on
strategies, subscriptions, broker accounts, webhooks, API keys), the answer is never a 5xx
and is always DRF's error shape or the resource; a refused body writes nothing.

The bodies are hostile on purpose (docs/api.md, "Input"): numbers beyond float range
(1e400) and huge integers, NaN/Infinity, deep nesting, NUL and lone surrogates in keys and
values, overlong strings, wrong types; mixed with plausible values and real ids so that
bodies get past the parser and reach the fields, the services and the database."""

import json

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from accounts.models import ApiKey
from accounts.services import api_key_create
from brokers.models import BrokerAccount
from brokers.serializers import BrokerAccountSerializer
from strategies.models import Strategy, Subscription
from strategies.serializers import StrategySerializer, SubscriptionSerializer
from tests.api.conftest import make_tenant_objects
from webhooks.models import Webhook
from webhooks.serializers import WebhookSerializer

pytestmark = pytest.mark.django_db


class Raw:
    """JSON text placed as is (1e400, NaN, 100,000 nested arrays)."""

    def __init__(self, text: str):
        self.text = text


def encode(value) -> str:
    # json.dumps escapes NUL and lone surrogates as \u0000 / \ud800, as a client would.
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        items = (f"{json.dumps(k)}: {encode(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(encode(v) for v in value) + "]"
    return json.dumps(value)


HOSTILE_NUMBERS = st.sampled_from(
    ["1e400", "-1E+999", "1e-400", "NaN", "Infinity", "-Infinity", "5e-324", "-0.0"]
).map(Raw)
NUMBERS = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([0, -1, 1, 2**31, 2**63, -(2**63) - 1, 10**20]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.decimals(places=12, allow_nan=False, allow_infinity=False).map(lambda d: Raw(str(d))),
    HOSTILE_NUMBERS,
)
TEXT = st.one_of(
    st.text(max_size=20),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=20),
    st.sampled_from(["\x00", "a\x00b", "\ud800", "x\udfff", "\ud83d\ude00", " ", "\x1c"]),
    st.integers(min_value=101, max_value=5000).map(lambda n: "x" * n),
    st.sampled_from(["10.0.0.0/8", "::1", "999.1.1.1", "AAPL", "risk_dollar_amount"]),
    st.sampled_from(["percent", "amount", "price", "none", "paper", "live", "read", "manage"]),
)
DEEP = st.sampled_from([100_000, 1000, 33]).map(lambda n: Raw("[" * n + "]" * n))
SCALARS = st.one_of(NUMBERS, TEXT, st.booleans(), st.none())
HOSTILE_LEAVES = st.one_of(
    HOSTILE_NUMBERS,
    DEEP,
    st.sampled_from(["\x00", "a\x00b", "\ud800", "x\udfff", "x" * 5000, [], {}, True]),
)
HOSTILE = st.recursive(
    st.one_of(SCALARS, DEEP),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(TEXT, children, max_size=3)
    ),
    max_leaves=8,
)
# Values a field could take, so that most bodies get past the parser and the field types
# and meet the services' rules and the database.
PLAUSIBLE = st.one_of(
    st.integers(min_value=-5, max_value=100_000),
    st.floats(min_value=-1, max_value=1e6, allow_nan=False),
    st.booleans(),
    st.none(),
    st.text(min_size=1, max_size=12),
    st.sampled_from(["percent", "amount", "price", "none", "risk_dollar_amount", "limit"]),
    st.sampled_from(["dollar_amount", "stock", "crypto", "paper", "live", "read", "manage"]),
    st.lists(st.sampled_from(["read", "manage", "10.0.0.0/8", "::1", "AAPL", " "]), max_size=3),
)

WRITERS = {
    "strategies": StrategySerializer,
    "subscriptions": SubscriptionSerializer,
    "accounts": BrokerAccountSerializer,
    "webhooks": WebhookSerializer,
    "api-keys": None,
}
MODELS = [Strategy, Subscription, BrokerAccount, Webhook, ApiKey]
API_KEY_FIELDS = ["name", "scopes", "mode"]


def field_names(resource: str) -> list[str]:
    serializer = WRITERS[resource]
    return API_KEY_FIELDS if serializer is None else list(serializer().fields)


HOSTILE_CLASSES = {
    "beyond float range": HOSTILE_NUMBERS,
    "huge integers": st.sampled_from([2**63, -(2**63) - 1, 10**30, 10**400]),
    "deep nesting": DEEP,
    "NUL": st.sampled_from(["\x00", "AA\x00PL", "\x00" * 3]),
    "lone surrogates": st.sampled_from(["\ud800", "x\udfff", "\udbff\udbff"]),
    "overlong strings": st.integers(min_value=101, max_value=100_000).map(lambda n: "x" * n),
    "wrong types": st.one_of(st.booleans(), st.none(), st.just([]), st.just({"a": 1}), TEXT),
    "anything": HOSTILE,
    "plausible": PLAUSIBLE,
}


# Refused wherever they are, by the parser (config.safejson), before any field is read.
REFUSED_ANYWHERE = ("deep nesting", "NUL", "lone surrogates")


def bodies(resource: str, ids: list[str], bad):
    """A plausible body for ``resource`` with one ``bad`` value in one of its fields (and
    sometimes one more under a key of its own)."""
    names = st.sampled_from(field_names(resource))
    fields = st.dictionaries(
        names, st.one_of(PLAUSIBLE, st.sampled_from(ids)), min_size=1, max_size=8
    )
    named = st.fixed_dictionaries({"name": st.text(min_size=1, max_size=12)})
    one_bad = st.dictionaries(names, bad, min_size=1, max_size=1)
    extra = st.one_of(st.just({}), st.dictionaries(TEXT, bad, max_size=1))
    return st.builds(
        lambda *parts: encode({k: v for part in parts for k, v in part.items()}),
        named,
        fields,
        one_bad,
        extra,
    )


def requests_for(objects: dict, bad):
    ids = [str(objects[name].id) for name in ("strategies", "accounts", "spare-account")]
    detail = st.sampled_from(["strategies", "subscriptions", "accounts", "webhooks"])
    return st.one_of(
        st.sampled_from(list(WRITERS)).flatmap(
            lambda r: bodies(r, ids, bad).map(lambda body: ("POST", f"/api/v1/{r}/", body))
        ),
        st.tuples(detail, st.sampled_from(["PUT", "PATCH"])).flatmap(
            lambda rm: bodies(rm[0], ids, bad).map(
                lambda body: (rm[1], f"/api/v1/{rm[0]}/{objects[rm[0]].id}/", body)
            )
        ),
    )


def counts() -> list[int]:
    return [model.objects.count() for model in MODELS]


def assert_drf_shape(status: int, data) -> None:
    assert isinstance(data, dict), data
    if status >= 400 and "detail" not in data:
        assert data, "an error names what is wrong"
        for key, messages in data.items():
            assert isinstance(key, str) and isinstance(messages, list | dict), (key, messages)


@pytest.fixture
def manager(org):
    _, raw = api_key_create(organization=org, name="property")
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw)
    return client


@pytest.mark.parametrize("hostile", list(HOSTILE_CLASSES))
def test_rest_writers_never_answer_5xx_and_refuse_without_writing(org, manager, hostile):
    objects = make_tenant_objects(org)

    @given(request=requests_for(objects, HOSTILE_CLASSES[hostile]))
    @settings(
        max_examples=60,
        derandomize=True,  # the same bodies on every run
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(request):
        method, url, body = request
        before = counts()
        raw = body.encode("utf-8", "surrogatepass")
        response = manager.generic(method, url, raw, content_type="application/json")
        assert response.status_code < 500, (method, url, body[:300], response.content[:300])
        event(f"{method} {response.status_code}")  # --hypothesis-show-statistics
        assert response["Content-Type"].startswith("application/json")
        assert_drf_shape(response.status_code, response.json())
        if response.status_code >= 400:
            assert counts() == before, (method, url, body[:300])
        if hostile in REFUSED_ANYWHERE:  # other values may sit in read-only fields, ignored
            assert response.status_code == 400, (method, url, body[:300], response.content)

    check()
