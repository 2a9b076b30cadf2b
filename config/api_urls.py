"""Everything under /api/: the v1 REST API, the UTM ingest endpoint, the OpenAPI schema
(/api/schema/) and its Swagger UI (/api/docs/, served from our own static files)."""

from django.http import JsonResponse
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from accounts.api import ApiKeyViewSet
from brokers.api import PositionViewSet
from execution.api import BrokerAccountViewSet, OrderViewSet, PositionDriftViewSet
from signals.api import SignalViewSet
from strategies.api import StrategyViewSet, SubscriptionViewSet
from webhooks.api import SignalIngestSlashView, SignalIngestView, WebhookViewSet

# Both forms answer: the issue and most clients write paths without the trailing slash,
# and a redirect would lose a POST body.
router = DefaultRouter()
router.trailing_slash = "/?"  # DRF takes the argument as a bool; the pattern goes here
router.include_root_view = False
router.register("signals", SignalViewSet, basename="signal")
router.register("orders", OrderViewSet, basename="order")
router.register("positions", PositionViewSet, basename="position")
router.register("position-drifts", PositionDriftViewSet, basename="position-drift")
router.register("accounts", BrokerAccountViewSet, basename="account")
router.register("strategies", StrategyViewSet, basename="strategy")
router.register("subscriptions", SubscriptionViewSet, basename="subscription")
router.register("webhooks", WebhookViewSet, basename="webhook")
router.register("api-keys", ApiKeyViewSet, basename="api-key")

v1 = [
    # UTM's documented URL has no trailing slash; accept both so neither form redirects
    # (a redirected POST loses its body).
    path("signals/ingest", SignalIngestView.as_view(), name="signal-ingest"),
    path("signals/ingest/", SignalIngestSlashView.as_view()),
    *router.urls,
]


@csrf_exempt
def api_not_found(request, *args, **kwargs):
    # API clients get JSON even for a URL that matches nothing (a malformed id, say),
    # never Django's HTML 404 page.
    return JsonResponse({"detail": "Not found."}, status=404)


urlpatterns = [
    path("v1/", include((v1, "api"), namespace="v1")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    re_path(r"^", api_not_found),
]
