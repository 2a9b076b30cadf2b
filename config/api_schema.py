"""OpenAPI post-processing: the parts of our schema that no DRF view describes.

- POST /trading/webhook/{uuid}/{password}, the TradersPost dialect, is a plain Django view
  (it must answer TradingView's text/plain bodies in TradersPost's own envelope), so its
  operation comes from the reference spec kept beside this module, plus the 404 and 429
  answers TradersPost sends but that spec leaves out, and our 503 (database unreachable).
- Retry-After on every 429 and 503.
- The error answers DRF gives on every REST operation (400 with the bad fields, 401, 403,
  404), so clients and schemathesis know every status code we can send.
"""

import copy
import functools
import json
from pathlib import Path

from django.utils.module_loading import import_string

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
    "503": {
        "description": "The database stayed out of reach; nothing was logged: send the signal "
        "again after Retry-After.",
        "content": {
            "application/json": {
                "schema": _message_body(
                    "service-unavailable",
                    "The service is temporarily unavailable; send the signal again.",
                )
            }
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


DETAIL = {
    "type": "object",
    "required": ["detail"],
    "properties": {"detail": {"type": "string"}},
}
FIELD_ERRORS = {
    "type": "object",
    "description": "Each bad field (camelCase) with its messages; non_field_errors for the rest.",
    "additionalProperties": True,
}
REST_ERRORS = {
    # Any operation: a query string holding NUL is refused before anything else.
    "400": ("Invalid input: every bad field or parameter is listed.", "ValidationErrors"),
    "401": ("Not authenticated: no or an invalid API key / session.", "ErrorDetail"),
    "403": (
        "Role or key scope does not allow this, or no active organization (suspended).",
        "ErrorDetail",
    ),
    "404": ("Not found (another organization's object looks the same).", "ErrorDetail"),
}
WRITE_ERRORS = {
    "409": (
        "Conflicts with what is stored (a name taken, the account already follows the "
        "strategy, the plan's limit reached): the fields in the way are listed.",
        "ValidationErrors",
    )
}
WRITES = ("post", "put", "patch")


def rest_error_responses(*, result: dict) -> dict:
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("ErrorDetail", DETAIL)
    schemas.setdefault("ValidationErrors", FIELD_ERRORS)
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/v1/") or path.startswith("/api/v1/signals/ingest"):
            continue
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            errors = REST_ERRORS | (WRITE_ERRORS if method in WRITES else {})
            for code, (text, component) in errors.items():
                ref = {"$ref": f"#/components/schemas/{component}"}
                content = {"application/json": {"schema": ref}}
                responses.setdefault(code, {"description": text, "content": content})
    return result


# Rules across fields that the services enforce (config/rules.py), stated for each request
# body component that can carry them.
# (merged into the component, after drf-spectacular's enum hook, which would otherwise
# turn their partial enums into components of their own).
BODY_RULES = {
    "SubscriptionRequest": "strategies.serializers.subscription_body_rules",
    "PatchedSubscriptionRequest": "strategies.serializers.subscription_body_rules",
    "WebhookRequest": "webhooks.serializers.webhook_body_rules",
    "PatchedWebhookRequest": "webhooks.serializers.webhook_body_rules",
}


def _merged(schema: dict, extra: dict) -> dict:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(schema.get(key), dict):
            _merged(schema[key], value)
        else:
            schema[key] = value
    return schema


def body_rules(*, result: dict) -> dict:
    schemas = result.get("components", {}).get("schemas", {})
    for component, rules in BODY_RULES.items():
        if component in schemas:
            _merged(schemas[component], import_string(rules)())
    return result


def retry_after_headers(*, result: dict) -> dict:
    for path in result.get("paths", {}).values():
        for operation in path.values():
            for code in ("429", "503"):
                answer = operation.get("responses", {}).get(code)
                if answer is not None and "$ref" not in answer:
                    answer.setdefault("headers", {}).update(RETRY_AFTER)
    return result


def preprocess(endpoints):
    """drf-spectacular PREPROCESSING_HOOKS entry: the TradersPost view's own routes (with
    their tolerated variants) are replaced by the one documented operation below."""
    return [endpoint for endpoint in endpoints if not endpoint[0].startswith("/trading/")]


def postprocess(result, generator, request, public):
    """drf-spectacular POSTPROCESSING_HOOKS entry."""
    result = body_rules(result=rest_error_responses(result=result))
    return retry_after_headers(result=traderspost_webhook(result=result))
