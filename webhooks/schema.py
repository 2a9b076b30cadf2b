"""OpenAPI post-processing: the parts of our schema that no DRF view describes.

- POST /trading/webhook/{uuid}/{password}, the TradersPost dialect, is a plain Django view
  (it must answer TradingView's text/plain bodies in TradersPost's own envelope), so its
  operation comes from the reference spec kept beside this module, plus the 404 and 429
  answers TradersPost sends but that spec leaves out.
- Retry-After on every 429.
"""

import copy
import functools
import json
from pathlib import Path

SPEC_FILE = Path(__file__).parent / "openapi" / "traderspost-webhook-spec.json"
WEBHOOK_PATH = "/trading/webhook/{uuid}/{password}"
PREFIX = "TradersPost"


def _message_body(code: str, message: str) -> dict:
    return {
        "type": "object",
        "required": ["success", "messageCode", "message"],
        "properties": {
            "success": {"type": "boolean", "example": False},
            "messageCode": {"type": "string", "enum": [code]},
            "message": {"type": "string", "example": message},
        },
    }


EXTRA_RESPONSES = {
    "404": {
        "description": "No webhook with this uuid.",
        "content": {
            "application/json": {"schema": _message_body("not-found", "Webhook not found.")}
        },
    },
    "429": {
        "description": "Over the webhook's rate limit (per minute or per hour); see Retry-After.",
        "content": {
            "application/json": {"schema": _message_body("too-many-requests", "Too Many Requests")}
        },
    },
}
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer"},
    }
}


def _renamed_refs(value):
    if isinstance(value, dict):
        return {
            k: (v.replace("#/components/schemas/", f"#/components/schemas/{PREFIX}"))
            if k == "$ref"
            else _renamed_refs(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_renamed_refs(v) for v in value]
    return value


@functools.lru_cache(maxsize=1)
def _traderspost_spec() -> dict:
    return _renamed_refs(json.loads(SPEC_FILE.read_text()))


def traderspost_webhook(*, result: dict) -> dict:
    spec = copy.deepcopy(_traderspost_spec())
    operation = spec["paths"][WEBHOOK_PATH]["post"]
    operation["operationId"] = "traderspost_webhook"
    operation["tags"] = ["webhooks (TradersPost)"]
    operation["security"] = [{}]  # the URL's password is the credential
    operation["responses"].update(copy.deepcopy(EXTRA_RESPONSES))
    result.setdefault("paths", {})[WEBHOOK_PATH] = {"post": operation}
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in spec["components"]["schemas"].items():
        schemas[f"{PREFIX}{name}"] = schema
    return result


def retry_after_headers(*, result: dict) -> dict:
    for path in result.get("paths", {}).values():
        for operation in path.values():
            answer = operation.get("responses", {}).get("429")
            if answer is not None and "$ref" not in answer:
                answer.setdefault("headers", {}).update(RETRY_AFTER)
    return result


def preprocess(endpoints):
    """drf-spectacular PREPROCESSING_HOOKS entry: the TradersPost view's own routes (with
    their tolerated variants) are replaced by the one documented operation below."""
    return [endpoint for endpoint in endpoints if not endpoint[0].startswith("/trading/")]


def postprocess(result, generator, request, public):
    """drf-spectacular POSTPROCESSING_HOOKS entry."""
    return retry_after_headers(result=traderspost_webhook(result=result))
