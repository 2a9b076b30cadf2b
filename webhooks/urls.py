from django.urls import re_path

from webhooks.views import TradersPostWebhookView

app_name = "webhooks"

view = TradersPostWebhookView.as_view()

# /trading/webhook/<uuid>/<password>, tolerating a trailing slash; a URL without its
# password still reaches the view, so a known webhook answers invalid-password (and is
# logged) rather than an HTML 404.
urlpatterns = [
    re_path(r"^(?P<webhook_id>[^/]+)/(?P<password>[^/]*)/?$", view, name="traderspost"),
    re_path(r"^(?P<webhook_id>[^/]+)/?$", view, name="traderspost-no-password"),
    # Anything else under /trading/webhook/ names no webhook: the dialect's JSON 404.
    re_path(r"^", view, {"webhook_id": ""}, name="traderspost-unknown"),
]
