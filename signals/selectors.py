"""Reads of the signal log for people (the dashboard), always scoped to an organization
first. The log grows without bound, so lists page by keyset on the
(organization, -received_at) index and never count the whole log."""

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.db.models import Count, Prefetch, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.models import Organization
from brokers.models import Order
from config.keyset import day_start, keyset_page, within_days
from signals.models import Signal, SignalResult
from webhooks.utm_errors import ACCEPTED_MESSAGE as UTM_ACCEPTED_MESSAGE

SIGNAL_PAGE_SIZE = 50


@dataclass(frozen=True)
class SignalFilters:
    """What a person may narrow the log by; every value already validated."""

    webhook_id: uuid.UUID | None = None
    strategy_id: uuid.UUID | None = None
    ticker: str = ""
    status: str = ""
    dialect: str = ""
    since: date | None = None
    until: date | None = None


@dataclass(frozen=True)
class SignalPage:
    signals: list[Signal]
    next_cursor: str | None


def _filtered(organization: Organization, filters: SignalFilters) -> QuerySet[Signal]:
    signals = Signal.objects.for_org(organization)
    if filters.webhook_id:
        signals = signals.filter(webhook_id=filters.webhook_id)
    if filters.strategy_id:
        signals = signals.filter(strategy_id=filters.strategy_id)
    if filters.ticker:
        signals = signals.filter(ticker=filters.ticker.strip().upper())
    if filters.status:
        signals = signals.filter(status=filters.status)
    if filters.dialect:
        signals = signals.filter(dialect=filters.dialect)
    return within_days(signals, field="received_at", since=filters.since, until=filters.until)


def _with_outcome(signals: QuerySet[Signal]) -> QuerySet[Signal]:
    """What a log row shows of each signal's outcome: a fixed number of queries per page
    (the page, its top-level orders, its results) however many signals it holds."""
    orders = Order.objects.filter(parent__isnull=True).select_related("account")
    results = SignalResult.objects.select_related("account")
    return signals.select_related("webhook", "strategy", "api_key").prefetch_related(
        Prefetch("orders", queryset=orders.order_by("created_at"), to_attr="top_orders"),
        Prefetch("results", queryset=results.order_by("created_at"), to_attr="result_list"),
    )


def signal_list_page(
    *,
    organization: Organization,
    filters: SignalFilters = SignalFilters(),
    cursor: str | None = None,
    size: int = SIGNAL_PAGE_SIZE,
) -> SignalPage:
    """One page of the log, newest first, after ``cursor`` (the next page's cursor is
    None on the last page)."""
    signals = _with_outcome(_filtered(organization, filters).order_by("-received_at", "-id"))
    rows, next_cursor = keyset_page(signals, field="received_at", cursor=cursor, size=size)
    return SignalPage(rows, next_cursor)


def signal_get(*, organization: Organization, signal_id) -> Signal:
    """One signal with everything its page shows. Raises Signal.DoesNotExist for another
    tenant's signal (a 404 in views)."""
    orders = Order.objects.select_related("account").prefetch_related("children")
    signals = Signal.objects.for_org(organization).select_related(
        "webhook", "strategy", "api_key", "account", "duplicate_of"
    )
    return signals.prefetch_related(
        Prefetch(
            "orders",
            queryset=orders.filter(parent__isnull=True).order_by("created_at"),
            to_attr="top_orders",
        ),
        Prefetch(
            "results",
            queryset=SignalResult.objects.select_related("account", "subscription"),
            to_attr="result_list",
        ),
    ).get(pk=signal_id)


def signal_answer(*, signal: Signal) -> dict:
    """The JSON body the endpoint answered with, in the signal's own dialect, rebuilt from
    the log row (the shapes of webhooks.services for TradersPost, webhooks.utm_errors for
    UTM: accepted, duplicate or replay, rejected)."""
    if signal.dialect == Signal.Dialect.UTM:
        return _utm_answer(signal)
    if signal.status == Signal.Status.REJECTED:
        body = {"success": False, "logId": str(signal.log_id)}
        return body | {"messageCode": signal.message_code, "message": signal.message}
    first = signal.duplicate_of_id or signal.id
    body = {"success": True, "id": str(first), "logId": str(signal.log_id)}
    return body | {"payload": signal.payload}


# What webhooks.utm_errors.UtmError.log_message joined: the message, then "field: message"
# per detail.
_UTM_DETAIL_SEPARATOR = "; "


def _utm_answer(signal: Signal) -> dict:
    if signal.status == Signal.Status.REJECTED:
        message, *parts = signal.message.split(_UTM_DETAIL_SEPARATOR)
        details = [
            {"field": field, "message": text}
            for field, _, text in (part.partition(": ") for part in parts)
        ]
        return {
            "success": False,
            "error": signal.message_code,
            "message": message,
            "details": details,
            "logId": str(signal.log_id),
        }
    first_id, log_id = signal.id, signal.log_id
    if signal.duplicate_of_id:  # an idempotent replay is answered with the first signal
        first_id = signal.duplicate_of_id
        log_id = (
            Signal.objects.filter(pk=first_id).values_list("log_id", flat=True).first() or log_id
        )
    return {
        "success": True,
        "signalId": str(first_id),
        "status": "PENDING",
        "message": UTM_ACCEPTED_MESSAGE,
        "logId": str(log_id),
    }


def signal_reference_price(*, signal: Signal) -> Decimal | None:
    """The price the signal carried (what a fill's slippage is measured against)."""
    intent = signal.intent or {}
    for name in ("signal_price", "price"):
        try:
            if intent.get(name) not in (None, ""):
                return Decimal(str(intent[name]))
        except InvalidOperation:
            return None
    return None


def signal_status_counts_since(*, organization: Organization, since: datetime) -> dict[str, int]:
    """Signals per status received since ``since`` (one grouped query over that range)."""
    rows = (
        Signal.objects.for_org(organization)
        .filter(received_at__gte=since)
        .values("status")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {row["status"]: row["n"] for row in rows}


def signal_any(*, organization: Organization) -> bool:
    return Signal.objects.for_org(organization).exists()


# How a day's signals are grouped in the chart: what reached an account, what was refused
# at the door, and repeats inside a webhook's duplicate window.
CHART_GROUPS = {
    Signal.Status.PENDING: "accepted",
    Signal.Status.PROCESSING: "accepted",
    Signal.Status.COMPLETED: "accepted",
    Signal.Status.FAILED: "accepted",
    Signal.Status.REJECTED: "rejected",
    Signal.Status.DUPLICATE: "duplicate",
}


def signal_counts_by_day(*, organization: Organization, days: int = 14) -> dict:
    """Signals per day over the last ``days`` days (today included), per chart group:
    {"days": [date, ...], "accepted": [n, ...], "rejected": [...], "duplicate": [...]}.
    One grouped query over that range of the (organization, -received_at) index."""
    today = timezone.localdate()
    first = today - timedelta(days=days - 1)
    rows = (
        Signal.objects.for_org(organization)
        .filter(received_at__gte=day_start(first))
        .annotate(day=TruncDate("received_at"))
        .values("day", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    series = {group: [0] * days for group in ("accepted", "rejected", "duplicate")}
    for row in rows:
        index = (row["day"] - first).days
        if 0 <= index < days:
            series[CHART_GROUPS[row["status"]]][index] += row["n"]
    return {"days": [first + timedelta(days=i) for i in range(days)], **series}


SIGNAL_EXPORT_FIELDS = (
    "id",
    "received_at",
    "dialect",
    "webhook",
    "strategy",
    "ticker",
    "action",
    "intent",
    "status",
    "message_code",
    "message",
    "completed_at",
)


def signal_export(*, organization: Organization, filters: SignalFilters = SignalFilters()):
    """Every signal the filters let through, newest first, with its webhook and strategy
    names, streamed from the database in chunks (for the CSV download)."""
    signals = _filtered(organization, filters).select_related("webhook", "strategy")
    # Not the raw body or the echoed payload: the download is the log's columns.
    signals = signals.only(*SIGNAL_EXPORT_FIELDS, "webhook__name", "strategy__name")
    return signals.order_by("-received_at", "-id").iterator(chunk_size=2000)
