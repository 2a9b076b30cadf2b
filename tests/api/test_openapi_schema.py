"""The OpenAPI schema is served, valid, documents both dialects and every endpoint, the
Swagger UI works offline; and schemathesis, driven by that schema, finds no 5xx and no
response that contradicts it (real HTTP to a live server, authenticated by a real key)."""

import json
import re

import pytest
import schemathesis
from django.urls import reverse
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.models import ApiKey
from accounts.services import api_key_create
from tests.api.conftest import make_tenant_objects
from tests.factories import OrganizationFactory
from tests.webhooks.conftest import production_server  # noqa: F401 (a fixture)

EXPECTED_PATHS = {
    "/api/v1/signals/ingest": {"post"},
    "/trading/webhook/{uuid}/{password}": {"post"},
    "/api/v1/signals/": {"get"},
    "/api/v1/signals/{id}/": {"get"},
    "/api/v1/orders/": {"get"},
    "/api/v1/orders/{id}/": {"get"},
    "/api/v1/orders/{id}/approve/": {"post"},
    "/api/v1/orders/{id}/reject/": {"post"},
    "/api/v1/orders/{id}/cancel/": {"post"},
    "/api/v1/positions/": {"get"},
    "/api/v1/position-drifts/": {"get"},
    "/api/v1/position-drifts/{id}/": {"get"},
    "/api/v1/accounts/": {"get", "post"},
    "/api/v1/accounts/{id}/": {"get", "put", "patch", "delete"},
    "/api/v1/accounts/{id}/test-connection/": {"post"},
    "/api/v1/strategies/": {"get", "post"},
    "/api/v1/strategies/{id}/": {"get", "put", "patch", "delete"},
    "/api/v1/subscriptions/": {"get", "post"},
    "/api/v1/subscriptions/{id}/": {"get", "put", "patch", "delete"},
    "/api/v1/webhooks/": {"get", "post"},
    "/api/v1/webhooks/{id}/": {"get", "put", "patch", "delete"},
    "/api/v1/webhooks/{id}/regenerate/": {"post"},
    "/api/v1/webhooks/{id}/rejected-attempts/": {"get"},
    "/api/v1/api-keys/": {"get", "post"},
    "/api/v1/api-keys/{id}/": {"get", "delete"},
    "/api/v1/api-keys/{id}/revoke/": {"post"},
}


@pytest.fixture(scope="module")
def openapi():
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


def test_schema_lists_every_endpoint_and_method(openapi):
    paths = {path: set(ops) for path, ops in openapi["paths"].items()}
    assert paths == EXPECTED_PATHS


def test_api_key_security_schemes(openapi):
    schemes = openapi["components"]["securitySchemes"]
    assert schemes["ApiKeyHeader"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    assert schemes["ApiKeyQuery"] == {"type": "apiKey", "in": "query", "name": "apiKey"}
    ingest = openapi["paths"]["/api/v1/signals/ingest"]["post"]
    assert {"ApiKeyHeader": []} in ingest["security"]
    assert openapi["paths"]["/trading/webhook/{uuid}/{password}"]["post"]["security"] == [{}]


def test_ingest_documents_the_utm_dialect(openapi):
    ingest = openapi["paths"]["/api/v1/signals/ingest"]["post"]
    codes = {"200", "400", "401", "403", "404", "405", "409", "429", "503"}
    assert set(ingest["responses"]) == codes
    assert "Retry-After" in ingest["responses"]["429"]["headers"]
    assert "Retry-After" in ingest["responses"]["503"]["headers"]
    body = ingest["requestBody"]["content"]["application/json"]
    request = openapi["components"]["schemas"][body["schema"]["$ref"].rsplit("/", 1)[1]]
    assert set(request["required"]) == {"symbol", "action", "accountId"}
    assert {"quantityType", "orderType", "limitPrice", "stopPrice", "timeInForce"} <= set(
        request["properties"]
    )
    assert {"exitRules", "strategyId", "comment", "clientSignalId"} <= set(request["properties"])
    assert set(body["examples"]) == {"BasicSignal", "SignalWithExitRules"}


def test_traderspost_dialect_is_documented(openapi):
    operation = openapi["paths"]["/trading/webhook/{uuid}/{password}"]["post"]
    assert {"200", "400", "404", "429", "503"} <= set(operation["responses"])
    assert "Retry-After" in operation["responses"]["503"]["headers"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["ticker", "action"]
    assert (
        schema["properties"]["takeProfit"]["$ref"] == "#/components/schemas/TradersPostTakeProfit"
    )
    assert "TradersPostTakeProfit" in openapi["components"]["schemas"]


@pytest.mark.django_db
def test_schema_and_docs_are_served_offline(client):
    schema = client.get(reverse("api-schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200 and schema.json()["openapi"].startswith("3.")
    docs = client.get(reverse("api-docs"))
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "swagger-ui" in html and "/static/drf_spectacular_sidecar/" in html
    assert "cdn.jsdelivr" not in html and "unpkg" not in html
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets)
    for asset in assets:  # served by us: the docs work with no internet
        assert client.get(asset).status_code == 200, asset


# --- schemathesis ----------------------------------------------------------------------


@pytest.fixture
def seeded(transactional_db):
    """A tenant with one of everything and an all-scopes paper key, plus another tenant."""
    organization = OrganizationFactory()
    objects = make_tenant_objects(organization)
    make_tenant_objects(OrganizationFactory())
    _, raw = api_key_create(
        organization=organization, name="schemathesis", scopes=ApiKey.ALL_SCOPES
    )
    return objects, raw


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES_PER_OPERATION = 8


def _exercise(operation, base_url: str, raw_key: str) -> None:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,  # a fixed seed: the same cases on every run
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        phases=[Phase.explicit, Phase.generate],
    )
    def run(case):
        case.call_and_validate(base_url=base_url, headers={"X-API-Key": raw_key}, checks=CHECKS)

    run()


def test_api_conforms_to_its_schema(seeded, live_server, openapi):
    """Every operation of the schema (both dialects and the REST API), a bounded number of
    generated requests each, over real HTTP: no 5xx, every answer as documented. One test
    for all operations, so the live server's database is set up once."""
    _, raw_key = seeded
    failures = {}
    for result in schemathesis.openapi.from_dict(openapi).get_all_operations():
        operation = result.ok()
        try:
            _exercise(operation, live_server.url, raw_key)
        except Exception as exc:  # collect all, report all
            failures[operation.label] = exc
    assert not failures, "\n\n".join(f"{label}: {exc}" for label, exc in failures.items())


# --- real answers of both dialects, checked against the schema we serve ----------------


@pytest.fixture
def served_schema(openapi):
    return schemathesis.openapi.from_dict(openapi)


def _conforms(served_schema, path: str, response) -> None:
    operation = served_schema[path]["POST"]
    operation.validate_response(response)  # raises on any mismatch
    assert response.headers["Content-Type"].startswith("application/json")


@pytest.mark.parametrize(
    "body, status",
    [
        ({"ticker": "AAPL", "action": "buy", "price": 150}, 200),
        ({"ticker": "AAPL", "action": "dance"}, 400),
        ({"action": "buy"}, 400),
        ("{not json", 400),
    ],
)
def test_traderspost_answers_conform_to_the_schema(
    served_schema, transactional_db, live_server, body, status
):
    import requests

    from tests.factories import InstrumentFactory, StrategyFactory
    from webhooks.services import webhook_create, webhook_password

    InstrumentFactory(symbol="AAPL", asset_class="stock")
    org = OrganizationFactory()
    webhook = webhook_create(organization=org, strategy=StrategyFactory(organization=org), name="h")
    url = f"{live_server.url}/trading/webhook/{webhook.id}/{webhook_password(webhook=webhook)}"
    data = body if isinstance(body, str) else json.dumps(body)
    response = requests.post(url, data=data, headers={"Content-Type": "text/plain"}, timeout=10)
    assert response.status_code == status, response.text
    _conforms(served_schema, "/trading/webhook/{uuid}/{password}", response)


def test_traderspost_unknown_webhook_conforms(served_schema, transactional_db, live_server):
    import uuid

    import requests

    url = f"{live_server.url}/trading/webhook/{uuid.uuid4()}/secret"
    response = requests.post(url, data="{}", timeout=10)
    assert response.status_code == 404
    _conforms(served_schema, "/trading/webhook/{uuid}/{password}", response)


@pytest.mark.parametrize(
    "case",
    [
        "accepted",
        "validation",
        "bad key",
        "no scope",
        "unknown account",
        "mode",
        "rate",
        "suspended",
    ],
)
def test_utm_answers_conform_to_the_schema(
    served_schema, transactional_db, live_server, case, settings
):
    import requests

    from accounts.services import organization_suspend
    from tests.factories import BrokerAccountFactory

    org = OrganizationFactory()
    account = BrokerAccountFactory(organization=org)
    scopes = ["read"] if case == "no scope" else None
    mode = "live" if case == "mode" else "paper"
    _, raw = api_key_create(organization=org, name="k", scopes=scopes, mode=mode)
    body = {"symbol": "AAPL", "action": "openLong", "accountId": str(account.id), "quantity": 1}
    if case == "validation":
        body["symbol"] = ""
    if case == "unknown account":
        body["accountId"] = "nope"
    if case == "bad key":
        raw = "tr_00000000_x"
    if case == "suspended":
        organization_suspend(organization=org)
    if case == "rate":
        settings.API_KEY_RATE_PER_MINUTE = 0
    response = requests.post(
        f"{live_server.url}/api/v1/signals/ingest",
        json=body,
        headers={"X-API-Key": raw},
        timeout=10,
    )
    expected = {"accepted": 200, "validation": 400, "bad key": 401, "no scope": 403}
    expected |= {"unknown account": 404, "mode": 409, "rate": 429, "suspended": 403}
    assert response.status_code == expected[case], response.text
    _conforms(served_schema, "/api/v1/signals/ingest", response)


# --- schemathesis as CI runs it: every phase, every conformance check ---------------------

# The REST API's operations; the two ingestion dialects have their own contract tests
# (and are fuzzed by test_api_conforms_to_its_schema above).
REST_OPERATIONS = r"^/api/v1/(?!signals/ingest)"
CONFORMANCE_CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "positive_data_acceptance",
    "unsupported_method",
    "allow_header_conformance",
    "missing_required_header",
    "ignored_auth",
]


# A body naming a strategy or account by id is a 400 when no such object exists (or it is
# another organization's): existence is not something a schema can state, so for the
# writers whose bodies carry ids, "schema-valid" data may be refused with 400. So may a
# broker account whose fields contradict each other (a paper account on an exchange
# without a sandbox, a market data source on a live account): rules across fields.
SCHEMATHESIS_CONFIG = """
[[operations]]
include-path-regex = "^/api/v1/(subscriptions|webhooks|accounts)/"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409"]
"""


@pytest.fixture
def rest_server(request, settings, monkeypatch):
    """The production server (gunicorn, tests/webhooks/conftest.py) where it can run (on
    PostgreSQL and Redis, as CI does); Django's live server on the embedded default."""
    postgresql = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    if postgresql and settings.REDIS_URL:
        # Errors only: the run draws thousands of "Bad Request" warnings, and the fixture
        # keeps the server's stderr to look for tracebacks in it.
        monkeypatch.setenv("LOG_LEVEL", "ERROR")
        return request.getfixturevalue("production_server")
    return request.getfixturevalue("live_server").url


def test_rest_api_passes_schemathesis_conformance_checks(seeded, rest_server, tmp_path):
    """schemathesis's own runner (examples, coverage and fuzzing phases: the coverage phase
    sends the boundary values, nulls, wrong types and unsupported methods such as TRACE)
    over real HTTP, every conformance check on, a fixed seed and a bounded number of
    examples. A failure prints schemathesis's report with a curl line per case."""
    import subprocess
    import sys
    from pathlib import Path

    _, raw_key = seeded
    config = tmp_path / "schemathesis.toml"
    config.write_text(SCHEMATHESIS_CONFIG)
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(config),
        "run",
        f"{rest_server}/api/schema/?format=json",
        "--url",
        rest_server,
        "--header",
        f"X-API-Key: {raw_key}",
        "--include-path-regex",
        REST_OPERATIONS,
        "--phases",
        "examples,coverage,fuzzing",
        "--checks",
        ",".join(CONFORMANCE_CHECKS),
        "--max-examples",
        "6",  # the fuzzing phase's per operation; the coverage phase sends its own set
        "--seed",
        "1",
        "--generation-deterministic",
        # NUL is refused everywhere (docs/api.md, "Input"), a rule JSON Schema cannot
        # state; tests/api/test_input_safety.py and the property test send it instead.
        "--generation-allow-x00",
        "false",
        "--workers",
        "1",
        "--continue-on-failure",
        "--report-dir",
        str(tmp_path),
    ]
    run = subprocess.run(  # in tmp_path: schemathesis keeps a cache in its working directory
        command, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False
    )
    (tmp_path / "stdout.txt").write_text(run.stdout)
    assert run.returncode == 0, run.stdout[-60000:] + run.stderr[-3000:]


def test_schema_states_what_the_server_enforces(openapi):
    schemas = openapi["components"]["schemas"]
    cash = schemas["BrokerAccountRequest"]["properties"]["initialCash"]
    assert (cash["minimum"], cash["exclusiveMinimum"], cash["multipleOf"]) == (0, True, 1e-08)
    assert schemas["ApiKeyRequest"]["properties"]["scopes"]["minItems"] == 1
    timeout = schemas["SubscriptionRequest"]["properties"]["approvalTimeoutSeconds"]
    assert (timeout["minimum"], timeout["maximum"]) == (10, 86400)
    risk = schemas["SubscriptionRequest"]["allOf"][0]["anyOf"]
    assert "risk_dollar_amount" not in risk[0]["properties"]["sizingMethod"]["enum"]
    assert risk[1]["required"] == ["stopLossKind"]
    offset = next(
        p
        for p in openapi["paths"]["/api/v1/strategies/"]["get"]["parameters"]
        if p["name"] == "offset"
    )
    assert offset["schema"] == {"type": "integer", "minimum": 0}  # not nullable
    for path, operations in openapi["paths"].items():
        if path.startswith("/api/v1/") and path != "/api/v1/signals/ingest":
            for method, operation in operations.items():
                assert "400" in operation["responses"], (method, path)
