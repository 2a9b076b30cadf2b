"""CSV download of the signal log, with the log page's filters."""

from decimal import Decimal, InvalidOperation

from django.views.decorators.http import require_safe

from dashboard.access import dashboard_view
from dashboard.csv_export import csv_response

# The log page's own filter parsing, so the download is exactly what the page lists.
from dashboard.views.signals import _filters as signal_filters
from signals.selectors import signal_export

SIGNAL_CSV_HEADER = [
    "received_at",
    "log_id",
    "dialect",
    "webhook",
    "strategy",
    "ticker",
    "action",
    "quantity",
    "price",
    "status",
    "message_code",
    "message",
    "completed_at",
]


@dashboard_view()
@require_safe  # read-only pages: a POST is 405, never a silent re-render
def signal_export_view(request):
    _, filters = signal_filters(request)
    signals = signal_export(organization=request.tenant.organization, filters=filters)
    return csv_response(filename="signals.csv", header=SIGNAL_CSV_HEADER, rows=map(_row, signals))


def _row(signal) -> list:
    intent = signal.intent if isinstance(signal.intent, dict) else {}
    return [
        signal.received_at,
        signal.id,
        signal.dialect,
        signal.webhook.name if signal.webhook else "",
        signal.strategy.name if signal.strategy else "",
        signal.ticker,
        signal.action,
        _number(intent.get("quantity")),
        _number(intent.get("price")),
        signal.status,
        signal.message_code,
        signal.message,
        signal.completed_at,
    ]


def _number(value) -> Decimal | None:
    """The intent keeps numbers as strings: written as numbers when they are ones."""
    try:
        return None if value is None else Decimal(str(value))
    except InvalidOperation:
        return value
