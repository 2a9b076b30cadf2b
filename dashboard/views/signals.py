import json

from django.shortcuts import render

from dashboard.access import dashboard_view
from dashboard.forms import SignalFilterForm
from dashboard.views import found
from signals.selectors import (
    SignalFilters,
    signal_answer,
    signal_get,
    signal_list_page,
    signal_reference_price,
)
from strategies.selectors import strategy_list
from webhooks.selectors import webhook_list

# How often the first page of the log refreshes itself (htmx polling), in seconds.
LOG_REFRESH_SECONDS = 3


def _filters(request) -> tuple[SignalFilterForm, SignalFilters]:
    organization = request.tenant.organization
    form = SignalFilterForm(
        request.GET or None,
        webhooks=webhook_list(organization=organization),
        strategies=strategy_list(organization=organization),
    )
    if not form.is_valid():
        return form, SignalFilters()
    data = form.cleaned_data
    return form, SignalFilters(
        webhook_id=data["webhook"],
        strategy_id=data["strategy"],
        ticker=data["ticker"],
        status=data["status"],
        dialect=data["dialect"],
        since=data["since"],
        until=data["until"],
    )


@dashboard_view()
def signal_list_view(request):
    """The log, newest first. The first page refreshes itself (new signals appear and
    pending ones show their outcome) without a reload; later pages stay still."""
    form, filters = _filters(request)
    cursor = request.GET.get("after") or None
    page = signal_list_page(
        organization=request.tenant.organization, filters=filters, cursor=cursor
    )
    query = request.GET.copy()
    query.pop("after", None)
    context = {
        "form": form,
        "page": page,
        "live": cursor is None,
        "query": query.urlencode(),
        "refresh_seconds": LOG_REFRESH_SECONDS,
    }
    template = "dashboard/_signal_rows.html" if request.htmx else "dashboard/signal_list.html"
    return render(request, template, context)


@dashboard_view()
def signal_detail(request, signal_id):
    signal = found(signal_get, organization=request.tenant.organization, signal_id=signal_id)
    reference = signal_reference_price(signal=signal)
    context = {
        "signal": signal,
        "answer": json.dumps(signal_answer(signal=signal), indent=2),
        "payload": json.dumps(signal.payload, indent=2) if signal.payload is not None else "",
        "reference_price": reference,
        "timings": _timings(signal),
        "outcomes": _outcomes(signal, reference),
    }
    return render(request, "dashboard/signal_detail.html", context)


def _timings(signal) -> list[tuple[str, int | None]]:
    """Each phase as milliseconds after the signal was received (None: not reached)."""
    phases = [
        ("planned", signal.planned_at),
        ("submitted", signal.submitted_at),
        ("filled", signal.filled_at),
        ("completed", signal.completed_at),
    ]
    start = signal.received_at
    return [
        (name, None if at is None else round((at - start).total_seconds() * 1000))
        for name, at in phases
    ]


def _outcomes(signal, reference):
    """Per account: the result (ordered / ignored with why / failed) with its orders,
    each fill's slippage against the signal's price (positive = worse for the account)."""
    by_account = {}
    for result in signal.result_list:
        by_account[result.account_id] = {"result": result, "account": result.account, "orders": []}
    for order in signal.top_orders:
        entry = by_account.setdefault(
            order.account_id, {"result": None, "account": order.account, "orders": []}
        )
        entry["orders"].append((order, _slippage(order, reference)))
    return list(by_account.values())


def _slippage(order, reference):
    if reference is None or order.filled_avg_price is None:
        return None
    difference = order.filled_avg_price - reference
    return difference if order.side == "buy" else -difference
