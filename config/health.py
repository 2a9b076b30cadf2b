from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


def _database_status() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception as exc:  # any driver error means "down" to a load balancer
        return f"error: {exc.__class__.__name__}"


def _redis_status() -> str:
    if not settings.REDIS_URL:
        return "not configured"
    import redis

    try:
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1
        )
        client.ping()
        return "ok"
    except redis.RedisError as exc:
        return f"error: {exc.__class__.__name__}"


@never_cache
@require_GET
def healthz(request):
    checks = {"database": _database_status(), "redis": _redis_status()}
    failed = [name for name, state in checks.items() if state.startswith("error")]
    body = {"status": "ok" if not failed else "error", "failed": failed, **checks}
    return JsonResponse(body, status=503 if failed else 200)
