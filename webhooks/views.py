"""POST /trading/webhook/<uuid>/<password>: the TradersPost-compatible webhook.

A DRF APIView kept deliberately bare: no authentication classes (the URL password is the
credential, checked by the service), no parsers (the raw body is read first, whatever the
Content-Type: TradingView posts JSON as text/plain), no content negotiation (whatever the
client's Accept header says, the answer is this dialect's JSON envelope, so an odd header
can never turn into a 406). Every method reaches the service, which answers non-POSTs with
post-required as the dialect documents instead of a bare 405.
"""

from django.http import JsonResponse
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from webhooks.services import webhook_ingest


class _JsonOnly(BaseContentNegotiation):
    def select_parser(self, request, parsers):
        return None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class TradersPostWebhookView(APIView):
    authentication_classes = ()
    permission_classes = ()
    throttle_classes = ()
    parser_classes = ()
    renderer_classes = (JSONRenderer,)
    content_negotiation_class = _JsonOnly

    def post(self, request, webhook_id: str, password: str = ""):
        answer = webhook_ingest(request=request, webhook_id=webhook_id, password=password)
        response = JsonResponse(answer.body, status=answer.status)
        if answer.retry_after is not None:
            response["Retry-After"] = str(answer.retry_after)
        return response

    def http_method_not_allowed(self, request, *args, **kwargs):
        return self.post(request, *args, **kwargs)

    def options(self, request, *args, **kwargs):
        return self.post(request, *args, **kwargs)
