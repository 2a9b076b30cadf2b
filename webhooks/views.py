"""POST /trading/webhook/<uuid>/<password>: the TradersPost-compatible webhook.

A plain Django view rather than a DRF APIView: DRF's request wrapping, negotiation and
exception handling cost CPU on every webhook and gave this endpoint nothing. There is no
authentication (the URL password is the credential, checked by the service), no CSRF (a
server-to-server POST), no parsing before the service reads the raw body (TradingView
posts JSON as text/plain) and no content negotiation (whatever the client's Accept header
says, the answer is this dialect's JSON envelope, so an odd header can never turn into a
406). Every method reaches the service, which answers non-POSTs with post-required as the
dialect documents instead of a bare 405.
"""

from django.http import JsonResponse
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from webhooks.services import webhook_ingest


class TradersPostWebhookView(View):
    @classmethod
    def as_view(cls, **initkwargs):
        return csrf_exempt(super().as_view(**initkwargs))

    def dispatch(self, request, webhook_id: str, password: str = ""):
        answer = webhook_ingest(request=request, webhook_id=webhook_id, password=password)
        response = JsonResponse(answer.body, status=answer.status)
        if answer.retry_after is not None:
            response["Retry-After"] = str(answer.retry_after)
        return response
