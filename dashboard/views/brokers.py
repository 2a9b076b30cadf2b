from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from brokers.adapters.base import BrokerError
from brokers.selectors import (
    broker_account_get,
    broker_account_list,
    fill_list_recent,
    order_list_open,
)
from brokers.services import paper_account_create
from dashboard.access import dashboard_view
from dashboard.forms import PaperAccountForm, apply_errors
from dashboard.views import found
from execution.orders import (
    OrderNotOpen,
    account_cancel_open_orders,
    account_overview,
    order_cancel,
    paper_account_reset,
)
from strategies.selectors import subscription_list


@dashboard_view()
def broker_account_list_view(request):
    organization = request.tenant.organization
    form = PaperAccountForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            account = paper_account_create(organization=organization, **form.cleaned_data)
        except ValidationError as error:
            apply_errors(form, error)
        else:
            messages.success(request, f"Paper account {account.name} added.")
            return redirect("dashboard:broker_account_detail", account_id=account.id)
    accounts = broker_account_list(organization=organization)
    return render(
        request, "dashboard/broker_account_list.html", {"accounts": accounts, "form": form}
    )


@dashboard_view()
def broker_account_detail(request, account_id):
    organization = request.tenant.organization
    account = found(broker_account_get, organization=organization, account_id=account_id)
    open_orders = list(order_list_open(organization=organization, account=account))
    context = {
        "overview": account_overview(organization=organization, account=account),
        "account": account,
        "open_orders": open_orders,
        "open_symbols": sorted({order.symbol for order in open_orders}),
        "fills": fill_list_recent(organization=organization, account=account),
        "subscriptions": subscription_list(organization=organization, account=account),
    }
    return render(request, "dashboard/broker_account_detail.html", context)


@dashboard_view()
@require_POST
def broker_account_reset(request, account_id):
    account = found(
        broker_account_get, organization=request.tenant.organization, account_id=account_id
    )
    try:
        paper_account_reset(account=account)
    except BrokerError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Paper account reset: positions cleared, cash restored.")
    return redirect("dashboard:broker_account_detail", account_id=account.id)


@dashboard_view()
@require_POST
def broker_account_cancel(request, account_id):
    """Cancel every open order of one symbol in the account (what the broker interface
    offers: cancel_open_orders(symbol))."""
    account = found(
        broker_account_get, organization=request.tenant.organization, account_id=account_id
    )
    symbol = request.POST.get("symbol", "").strip().upper()[:40]
    if not symbol:
        messages.error(request, "Choose a symbol whose orders to cancel.")
        return redirect("dashboard:broker_account_detail", account_id=account.id)
    try:
        canceled = account_cancel_open_orders(account=account, symbol=symbol)
    except BrokerError as error:
        messages.error(request, f"The broker refused: {error}")
    else:
        messages.success(request, f"{canceled} open {symbol} order(s) canceled.")
    return redirect("dashboard:broker_account_detail", account_id=account.id)


@dashboard_view()
@require_POST
def order_cancel_view(request, order_id):
    """Cancel one open order; back to the page the button was on (the account's page or
    the orders page)."""
    try:
        order = found(
            order_cancel,
            organization=request.tenant.organization,
            order_id=order_id,
        )
    except (OrderNotOpen, BrokerError) as error:
        messages.error(request, f"Not canceled: {error}")
    else:
        label = f"{order.side} {order.quantity:f} {order.symbol}"
        if order.status == "canceled":
            messages.success(request, f"Order canceled: {label}.")
        else:
            # It finished at the broker before the cancel arrived (a fill wins the race).
            status = order.get_status_display().lower()
            messages.error(request, f"Not canceled: the order {label} is {status}.")
    back = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        return redirect(back)
    return redirect("dashboard:order_list")
