"""The UTM dialect's one answer shape, in one place.

Success: ``{success: true, signalId, status: "PENDING", message}``.
Errors: ``{success: false, error, message, details: [{field, message}]}`` with the seed's
codes. Two choices of ours, documented in the OpenAPI schema:
- a valid key without the ``signals:write`` scope is 403 INVALID_API_KEY (the key is real,
  it just may not send signals; 401 is kept for missing/unknown/revoked keys);
- a suspended organization is 403 ORGANIZATION_SUSPENDED.
Every answer to a request with a valid key also carries ``logId``, the signal log row.
"""

from django.http import JsonResponse

ACCEPTED_MESSAGE = "Signal received and queued for processing"

INVALID_API_KEY = "INVALID_API_KEY"
VALIDATION_ERROR = "VALIDATION_ERROR"
ACCOUNT_NOT_FOUND = "ACCOUNT_NOT_FOUND"
MODE_MISMATCH = "MODE_MISMATCH"
RATE_LIMIT_EXCEEDED = "RATE_LIMIT_EXCEEDED"
ORGANIZATION_SUSPENDED = "ORGANIZATION_SUSPENDED"
METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
BROKER_ERROR = "BROKER_ERROR"  # set on the signal and its order by the pipeline

ERROR_CODES = (
    INVALID_API_KEY,
    VALIDATION_ERROR,
    ACCOUNT_NOT_FOUND,
    MODE_MISMATCH,
    RATE_LIMIT_EXCEEDED,
    ORGANIZATION_SUSPENDED,
    METHOD_NOT_ALLOWED,
    SERVICE_UNAVAILABLE,
)
# The database stayed out of reach through the admission's retry (nothing was logged).
UNAVAILABLE_MESSAGE = "The service is temporarily unavailable; send the signal again."
UNAVAILABLE_RETRY_AFTER = 5


class UtmError(Exception):
    def __init__(
        self,
        code: str,
        status: int,
        message: str,
        details: list[dict] | None = None,
        retry_after: int | None = None,
    ):
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message
        self.details = details or []
        self.retry_after = retry_after

    def log_message(self) -> str:
        parts = [f"{d['field']}: {d['message']}" for d in self.details]
        return "; ".join([self.message, *parts])

    def response(self, *, log_id=None) -> JsonResponse:
        body = {"success": False, "error": self.code, "message": self.message}
        body["details"] = self.details
        if log_id is not None:
            body["logId"] = str(log_id)
        answer = JsonResponse(body, status=self.status)
        if self.retry_after is not None:
            answer["Retry-After"] = str(self.retry_after)
        return answer


def invalid_key(message: str, status: int = 401) -> UtmError:
    return UtmError(INVALID_API_KEY, status, message)


def service_unavailable() -> UtmError:
    return UtmError(
        SERVICE_UNAVAILABLE, 503, UNAVAILABLE_MESSAGE, retry_after=UNAVAILABLE_RETRY_AFTER
    )


def validation_error(details: list[dict]) -> UtmError:
    return UtmError(VALIDATION_ERROR, 400, "Request payload validation failed", details)


def accepted_response(*, signal_id, log_id) -> JsonResponse:
    body = {
        "success": True,
        "signalId": str(signal_id),
        "status": "PENDING",
        "message": ACCEPTED_MESSAGE,
        "logId": str(log_id),
    }
    return JsonResponse(body, status=200)
