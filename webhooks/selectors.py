import uuid

from django.db import DEFAULT_DB_ALIAS, connections, models

from config.compiled import CompiledQuery
from signals.models import RejectedAttempts
from webhooks.models import Webhook


def webhook_get_for_ingest(*, webhook_id: str) -> Webhook | None:
    """The webhook a URL names, with its organization (one indexed query), or None when
    the id is unknown or not a UUID at all (both answer not-found).

    This is the first query of a webhook request, and it replaces Django's health check
    (CONN_HEALTH_CHECKS: a ``SELECT 1`` round trip before the first query of every
    request, ~0.15 ms of CPU per webhook between gunicorn and PostgreSQL) for it: the
    lookup runs straight away on the connection kept from earlier requests. If that
    connection turns out to be dead (PostgreSQL restarted, the session was terminated),
    the caller's retry runs the whole admission once more on a new one
    (webhooks.services.webhook_ingest, signals.faults.retried_once), so a dropped
    connection never costs a webhook a 500. Inside a transaction nothing changes.
    """
    try:
        pk = uuid.UUID(str(webhook_id))
    except ValueError:
        return None
    connection = connections[DEFAULT_DB_ALIAS]
    if connection.connection is not None and not connection.in_atomic_block:
        connection.health_check_done = True  # this request: the admission's retry instead
    return _lookup(pk)


# What ingestion reads of a webhook and its organization (webhooks/services.py); the
# rest (names, the encrypted password, timestamps, plan) is deferred: not sent, not
# parsed (timestamps are the dearest columns to load) and not turned into attributes.
# Reading a deferred field still works, with a query of its own, which
# tests/webhooks/test_queries.py would count.
INGEST_FIELDS = (
    "id",
    "organization_id",
    "strategy_id",
    "enabled",
    "asset_class",
    "password_digest",
    "limit_to_tradingview",
    "limit_to_trendspider",
    "allowed_ips",
    "allowed_tickers",
    "duplicate_window_seconds",
    "organization__id",
    "organization__status",
    "organization__webhook_rate_per_minute",
    "organization__webhook_rate_per_hour",
)


def _ingest_queryset(pk: uuid.UUID):
    return Webhook.objects.select_related("organization").only(*INGEST_FIELDS).filter(pk=pk)


# Compiled once per process, prepared once per connection (config.compiled): compiling
# this select_related query cost more CPU than running it (about 0.6 of the 0.7 ms the
# lookup took per request on the benchmark machine), and every webhook request makes it.
# Rows still go through the ORM's converters and Model.from_db, so field types and
# deferred loading behave as with .first().
_INGEST = CompiledQuery(_ingest_queryset, pk=uuid.UUID)


def _lookup(pk: uuid.UUID) -> Webhook | None:
    return _INGEST.first(pk=pk)


def webhook_rejected_attempts(*, organization, webhook: Webhook):
    """The webhook's counted requests without its right password, newest minute first."""
    return (
        RejectedAttempts.objects.for_org(organization)
        .filter(webhook=webhook)
        .order_by("-window_start", "message_code")
    )


# --- For people (the dashboard): scoped to an organization first --------------------------


def webhook_list(*, organization) -> "models.QuerySet[Webhook]":
    return Webhook.objects.for_org(organization).select_related("strategy").order_by("name")


def webhook_get(*, organization, webhook_id) -> Webhook:
    """Raises Webhook.DoesNotExist for another tenant's webhook (a 404 in views)."""
    return Webhook.objects.for_org(organization).select_related("strategy").get(pk=webhook_id)
