"""Writes alpaca-trading-subset.json: the response schemas of the Alpaca trading API
endpoints our stand-in serves, with every component they reference, taken from Alpaca's
published OpenAPI spec (not part of the project; run by hand when the spec changes):

    python tests/standins/spec/extract_alpaca.py PATH/TO/alpaca-trading-api.json

The tests read only the subset this writes (tests/brokers/test_alpaca_standin_contract.py).
"""

import json
import sys
from pathlib import Path

# (path, method, status) of what the stand-in answers, as Alpaca's spec names them.
ENDPOINTS = [
    ("/v2/account", "get", "200"),
    ("/v2/positions", "get", "200"),
    ("/v2/positions/{symbol_or_asset_id}", "get", "200"),
    ("/v2/orders", "post", "200"),
    ("/v2/orders", "get", "200"),
    ("/v2/orders", "delete", "207"),
    ("/v2/orders:by_client_order_id", "get", "200"),
    ("/v2/orders/{order_id}", "get", "200"),
    ("/v2/assets", "get", "200"),
    ("/v2/assets/{symbol_or_asset_id}", "get", "200"),
    ("/v2/clock", "get", "200"),
]


def _refs(node, found: set) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            found.add(ref.rsplit("/", 1)[1])
        for value in node.values():
            _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


def main(source: str) -> None:
    spec = json.loads(Path(source).read_text())
    responses, wanted = {}, set()
    for path, method, status in ENDPOINTS:
        answer = spec["paths"][path][method]["responses"][status]
        schema = answer["content"]["application/json"]["schema"]
        responses[f"{method.upper()} {path} {status}"] = schema
        _refs(schema, wanted)
    schemas, todo = {}, sorted(wanted)
    while todo:
        name = todo.pop()
        if name in schemas:
            continue
        schemas[name] = spec["components"]["schemas"][name]
        more: set = set()
        _refs(schemas[name], more)
        todo.extend(sorted(more - set(schemas)))
    info = spec["info"]
    subset = {
        "source": f"Alpaca {info['title']} {info['version']} (OpenAPI {spec['openapi']}): "
        "the response schemas of the endpoints the stand-in serves",
        "responses": responses,
        "components": {"schemas": dict(sorted(schemas.items()))},
    }
    out = Path(__file__).with_name("alpaca-trading-subset.json")
    out.write_text(json.dumps(subset, indent=1, sort_keys=True) + "\n")
    print(f"{out}: {len(responses)} responses, {len(schemas)} schemas")


if __name__ == "__main__":
    main(sys.argv[1])
