import functools
import uuid

from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections

from accounts.models import Organization
from config.prepared import prepared_cursor
from webhooks.models import Webhook


def webhook_get_for_ingest(*, webhook_id: str) -> Webhook | None:
    """The webhook a URL names, with its organization (one indexed query), or None when
    the id is unknown or not a UUID at all (both answer not-found).

    This is the first query of a webhook request, and it replaces Django's health check
    (CONN_HEALTH_CHECKS: a ``SELECT 1`` round trip before the first query of every
    request, ~0.15 ms of CPU per webhook between gunicorn and PostgreSQL) for it: the
    lookup runs straight away on the connection kept from earlier requests, and if that
    connection turns out to be dead (PostgreSQL restarted, the session was terminated)
    it is closed and the lookup runs once more on a new one. A read in autocommit, so
    running it twice is harmless; a dropped connection still never costs a webhook a
    500. Inside a transaction (tests, an atomic caller) nothing changes.
    """
    try:
        pk = uuid.UUID(str(webhook_id))
    except ValueError:
        return None
    connection = connections[DEFAULT_DB_ALIAS]
    kept = connection.connection is not None and not connection.in_atomic_block
    if kept:
        connection.health_check_done = True  # this request: the retry below instead
    try:
        return _lookup(pk)
    except (OperationalError, InterfaceError):
        if not kept:
            raise
        connection.close()
        return _lookup(pk)


def _lookup(pk: uuid.UUID) -> Webhook | None:
    query = _ingest_query(DEFAULT_DB_ALIAS)
    if query is None:
        return _ingest_queryset(pk).first()
    return _run_ingest_query(query, pk)


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


@functools.lru_cache(maxsize=4)
def _ingest_query(alias: str):
    """The lookup's SQL, compiled once per process instead of once per request.

    Compiling a select_related query costs more CPU than running it (about 0.6 of the
    0.7 ms this lookup took per request on the benchmark machine), and every webhook
    request makes exactly this query. The rows still go through the ORM's own converters
    and Model.from_db, so field types and deferred-loading behave as with .first(). If
    the compiled select does not have the expected shape, fall back to the plain ORM.
    """
    compiler = _ingest_queryset(uuid.UUID(int=0)).query.get_compiler(alias)
    sql, params = compiler.as_sql()
    targets = [column.target for column, _, _ in compiler.select]
    webhook_fields = [f.attname for f in targets if f.model is Webhook]
    org_fields = [f.attname for f in targets[len(webhook_fields) :] if f.model is Organization]
    if len(params) != 1 or len(webhook_fields) + len(org_fields) != len(targets):
        return None
    converters = compiler.get_converters([column for column, _, _ in compiler.select])
    return alias, compiler, sql, converters, webhook_fields, org_fields


def _run_ingest_query(query, pk: uuid.UUID) -> Webhook | None:
    alias, compiler, sql, converters, webhook_fields, org_fields = query
    connection = connections[alias]
    param = Webhook._meta.pk.get_db_prep_value(pk, connection)
    with prepared_cursor(connection) as cursor:
        cursor.execute(sql, [param])
        row = cursor.fetchone()
    if row is None:
        return None
    if converters:
        row = next(iter(compiler.apply_converters([row], converters)))
    split = len(webhook_fields)
    webhook = Webhook.from_db(alias, webhook_fields, row[:split])
    webhook.organization = Organization.from_db(alias, org_fields, row[split:])
    return webhook
