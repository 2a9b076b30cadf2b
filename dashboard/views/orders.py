"""Orders and positions across the organization's accounts, and their CSV download."""

from django.shortcuts import render
from django.views.decorators.http import require_safe

from brokers.selectors import (
    OrderFilters,
    broker_account_list,
    order_filtered,
    order_list_page,
    position_list_all,
)
from dashboard.access import dashboard_view
from dashboard.csv_export import csv_response
from dashboard.forms import OrderFilterForm

ORDER_CSV_HEADER = [
    "created_at",
    "account",
    "mode",
    "strategy",
    "leg",
    "side",
    "quantity",
    "symbol",
    "type",
    "limit_price",
    "stop_price",
    "status",
    "filled_quantity",
    "filled_avg_price",
    "filled_at",
    "client_order_id",
    "signal_id",
    "error",
]


def _filters(request) -> tuple[OrderFilterForm, OrderFilters]:
    accounts = broker_account_list(organization=request.tenant.organization)
    form = OrderFilterForm(request.GET or None, accounts=accounts)
    if not form.is_valid():  # an invalid filter is ignored, as in the signal log
        return form, OrderFilters()
    data = form.cleaned_data
    return form, OrderFilters(
        account_id=data["account"],
        ticker=data["ticker"],
        status=data["status"],
        side=data["side"],
        since=data["since"],
        until=data["until"],
    )


@dashboard_view()
@require_safe  # read-only pages: a POST is 405, never a silent re-render
def order_list_view(request):
    """Open positions in every account, then every order newest first (50 a page)."""
    organization = request.tenant.organization
    form, filters = _filters(request)
    cursor = request.GET.get("after") or None
    query = request.GET.copy()
    query.pop("after", None)
    context = {
        "form": form,
        "positions": position_list_all(organization=organization),
        "page": order_list_page(organization=organization, filters=filters, cursor=cursor),
        "first_page": cursor is None,
        "query": query.urlencode(),
    }
    return render(request, "dashboard/order_list.html", context)


@dashboard_view()
@require_safe  # read-only pages: a POST is 405, never a silent re-render
def order_export(request):
    """Every order the filters let through, as CSV, streamed."""
    _, filters = _filters(request)
    orders = order_filtered(organization=request.tenant.organization, filters=filters)
    rows = (
        [
            order.created_at,
            order.account.name,
            order.account.mode,
            order.subscription.strategy.name if order.subscription else "",
            order.leg,
            order.side,
            order.quantity,
            order.symbol,
            order.order_type,
            order.limit_price,
            order.stop_price,
            order.status,
            order.filled_quantity,
            order.filled_avg_price,
            order.filled_at,
            order.client_order_id,
            order.signal_id,
            order.error,
        ]
        for order in orders.iterator(chunk_size=2000)
    )
    return csv_response(filename="orders.csv", header=ORDER_CSV_HEADER, rows=rows)
