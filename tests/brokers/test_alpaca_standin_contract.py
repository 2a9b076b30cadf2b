"""The Alpaca stand-in answers as Alpaca's published trading API says it does: every
success answer of the trading API that the adapter reads is checked against the response
schemas of Alpaca's OpenAPI spec (the subset in tests/standins/spec/, extracted from the
spec by extract_alpaca.py), and carries no top-level field (nor field of an order's legs)
that Alpaca's objects do not have. Error bodies (the spec gives them no schema), the data
API and the stream's messages are outside this check; alpaca-py's models parse those. A stand-in that drifted from the real
API would let the adapter pass tests that the real broker fails."""

import json
from pathlib import Path

import jsonschema
import pytest
import requests

SUBSET = json.loads(
    (Path(__file__).parent.parent / "standins/spec/alpaca-trading-subset.json").read_text()
)


def _json_schema(node):
    """OpenAPI 3.0's ``nullable`` as JSON Schema (the rest of the keywords carry over)."""
    if isinstance(node, list):
        return [_json_schema(value) for value in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _json_schema(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable"):
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


COMPONENTS = _json_schema(SUBSET["components"])
# Fields Alpaca's live answers carry that its published spec does not list; the stand-in
# sends them as Alpaca does. Anything else beyond the spec is an invention, and fails.
BEYOND_THE_SPEC = {
    "Account": {
        "admin_configurations", "user_configurations", "bod_dtbp", "crypto_tier",
        "effective_buying_power", "position_market_value",
    },
    "Order": {"subtag", "source"},
    "CanceledOrderResponse": {"body"},  # alpaca-py's CancelOrderResponse reads it
}  # fmt: skip
# Crypto assets are on exchange "CRYPTO" (alpaca-py's AssetExchange has it); the spec's
# Exchange enum lists the stock exchanges only.
COMPONENTS["schemas"]["Exchange"]["enum"].append("CRYPTO")


def _check(answer: requests.Response, endpoint: str, status: int = 200):
    assert answer.status_code == status, answer.text
    body = answer.json()
    schema = {**_json_schema(SUBSET["responses"][endpoint]), "components": COMPONENTS}
    jsonschema.validate(body, schema, cls=jsonschema.Draft202012Validator)
    for item in body if isinstance(body, list) else [body]:
        _only_known_fields(item, schema)
    return body


def _only_known_fields(item: dict, schema: dict) -> None:
    name = (schema.get("items") or schema).get("$ref", "").rsplit("/", 1)[-1]
    known = set(SUBSET["components"]["schemas"][name].get("properties", {}))
    known |= BEYOND_THE_SPEC.get(name, set())
    assert set(item) <= known, f"{name} has no {sorted(set(item) - known)}"
    if name == "Order":
        for leg in item.get("legs") or []:
            assert set(leg) <= known, f"Order leg has no {sorted(set(leg) - known)}"


@pytest.fixture
def api(alpaca_standin):
    key_id, secret = "PKCONTRACT0001", "contract-secret-" + "c" * 24
    alpaca_standin.add_account(key_id, secret)
    alpaca_standin.set_price("AAPL", "190")
    session = requests.Session()
    session.headers.update({"APCA-API-KEY-ID": key_id, "APCA-API-SECRET-KEY": secret})

    def call(method: str, path: str, **kwargs) -> requests.Response:
        return session.request(method, alpaca_standin.url + path, timeout=5, **kwargs)

    yield call
    session.close()


def test_account_positions_clock_and_assets(api):
    account = _check(api("GET", "/v2/account"), "GET /v2/account 200")
    assert account["status"] == "ACTIVE" and account["cash"] == "100000"
    buy = {"symbol": "AAPL", "qty": "3", "side": "buy", "type": "market", "time_in_force": "day"}
    _check(api("POST", "/v2/orders", json=buy), "POST /v2/orders 200")
    [position] = _check(api("GET", "/v2/positions"), "GET /v2/positions 200")
    assert (position["symbol"], position["qty"], position["side"]) == ("AAPL", "3", "long")
    _check(api("GET", "/v2/positions/AAPL"), "GET /v2/positions/{symbol_or_asset_id} 200")
    _check(api("GET", "/v2/clock"), "GET /v2/clock 200")
    assets = _check(api("GET", "/v2/assets"), "GET /v2/assets 200")
    assert "AAPL" in {a["symbol"] for a in assets}
    assert {a["class"] for a in assets} == {"us_equity"}  # Alpaca's default class
    crypto = _check(
        api("GET", "/v2/assets", params={"asset_class": "crypto"}), "GET /v2/assets 200"
    )
    assert crypto and {a["class"] for a in crypto} == {"crypto"}
    _check(api("GET", "/v2/assets/AAPL"), "GET /v2/assets/{symbol_or_asset_id} 200")


@pytest.mark.parametrize(
    "order",
    [
        {"type": "market", "time_in_force": "day"},
        {"type": "limit", "limit_price": "150", "time_in_force": "gtc"},
        {"type": "stop", "stop_price": "250", "time_in_force": "day"},
        {"type": "stop_limit", "stop_price": "250", "limit_price": "251", "time_in_force": "day"},
        {"type": "trailing_stop", "trail_price": "5", "time_in_force": "day", "side": "sell"},
        {"type": "limit", "limit_price": "150", "time_in_force": "day", "extended_hours": True},
        {
            "type": "limit", "limit_price": "189", "time_in_force": "gtc", "order_class": "bracket",
            "take_profit": {"limit_price": "200"}, "stop_loss": {"stop_price": "180"},
        },
    ],
)  # fmt: skip
def test_every_order_kind_and_its_reads(api, order):
    body = {"symbol": "AAPL", "qty": "2", "side": "buy", "client_order_id": "tr-c-1", **order}
    placed = _check(api("POST", "/v2/orders", json=body), "POST /v2/orders 200")
    assert placed["client_order_id"] == "tr-c-1" and placed["type"] == order["type"]
    if order.get("order_class") == "bracket":
        assert {leg["type"] for leg in placed["legs"]} == {"limit", "stop"}
    found = _check(
        api("GET", "/v2/orders:by_client_order_id", params={"client_order_id": "tr-c-1"}),
        "GET /v2/orders:by_client_order_id 200",
    )
    assert found["id"] == placed["id"]
    _check(api("GET", f"/v2/orders/{placed['id']}"), "GET /v2/orders/{order_id} 200")
    _check(api("GET", "/v2/orders", params={"status": "all"}), "GET /v2/orders 200")
    _check(api("DELETE", "/v2/orders"), "DELETE /v2/orders 207", status=207)
