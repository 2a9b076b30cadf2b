from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from accounts.models import Role
from brokers.adapters.base import BrokerError
from brokers.adapters.market_data import has_alpaca_data_key
from brokers.models import BrokerAccount
from brokers.selectors import (
    broker_account_get,
    broker_account_list,
    fill_list_recent,
    order_list_open,
    position_drift_list,
    position_drift_open_count,
)
from brokers.services import broker_account_create, broker_account_update, paper_account_create
from dashboard.access import dashboard_view
from dashboard.forms import (
    BrokerAccountForm,
    MarketDataSourceForm,
    PaperAccountForm,
    apply_errors,
    broker_kinds,
)
from dashboard.views import found
from execution.connections import broker_account_test_connection
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
    context = {"accounts": accounts, "form": form, "kinds": broker_kinds()}
    return render(request, "dashboard/broker_account_list.html", context)


@dashboard_view(read=Role.TRADER)
def broker_account_new(request, broker):
    """Add an account of one broker kind (only kinds with an adapter): its mode and the
    credentials its adapter asks for, through the service the API uses."""
    kinds = dict(broker_kinds())
    if broker not in kinds:
        raise Http404("No such broker.")
    form = BrokerAccountForm(request.POST or None, broker=broker)
    if request.method == "POST" and form.is_valid():
        try:
            account = broker_account_create(
                organization=request.tenant.organization,
                broker=broker,
                credentials=form.credentials(),
                **form.account_fields(),
            )
        except ValidationError as error:
            apply_errors(form, error)
        else:
            messages.success(request, f"{kinds[broker]} account {account.name} added.")
            return redirect("dashboard:broker_account_detail", account_id=account.id)
    context = {"form": form, "broker": broker, "broker_label": kinds[broker]}
    return render(request, "dashboard/broker_account_form.html", context)


@dashboard_view(read=Role.TRADER)
def broker_account_edit(request, account_id):
    """Rename, switch mode, replace credentials (a blank secret keeps the stored one)."""
    account = found(
        broker_account_get, organization=request.tenant.organization, account_id=account_id
    )
    form = BrokerAccountForm(request.POST or None, broker=account.broker, account=account)
    if request.method == "POST" and form.is_valid():
        try:
            broker_account_update(
                account=account, credentials=form.credentials(), **form.account_fields()
            )
        except ValidationError as error:
            account.refresh_from_db()
            apply_errors(form, error)
        else:
            messages.success(request, f"Account {account.name} saved.")
            return redirect("dashboard:broker_account_detail", account_id=account.id)
    context = {
        "form": form,
        "account": account,
        "broker": account.broker,
        "broker_label": account.get_broker_display(),
    }
    return render(request, "dashboard/broker_account_form.html", context)


@dashboard_view()
@require_POST
def broker_account_test_connection_view(request, account_id):
    """What POST /api/v1/accounts/{id}/test-connection/ does: ask the broker who the
    credentials belong to, never trading. htmx gets the result fragment; a plain form
    post gets it as a message on the account page."""
    account = found(
        broker_account_get, organization=request.tenant.organization, account_id=account_id
    )
    result = broker_account_test_connection(account=account)
    if request.headers.get("HX-Request"):
        return render(
            request, "dashboard/_connection_result.html", {"result": result, "account": account}
        )
    if result.ok:
        messages.success(request, f"Connection OK: {result.description}")
    else:
        messages.error(request, f"Connection failed: {result.reason}")
    return redirect("dashboard:broker_account_detail", account_id=account.id)


@dashboard_view()
@require_POST
def broker_account_market_data(request, account_id):
    """A paper account's market data source (where unpriced market orders get a quote)."""
    account = found(
        broker_account_get, organization=request.tenant.organization, account_id=account_id
    )
    form = MarketDataSourceForm(request.POST, account=account)
    if not form.is_valid():
        messages.error(request, "Choose one of the listed market data sources.")
        return redirect("dashboard:broker_account_detail", account_id=account.id)
    try:
        broker_account_update(
            account=account, market_data_source=form.cleaned_data["market_data_source"]
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, "Market data source saved.")
    return redirect("dashboard:broker_account_detail", account_id=account.id)


@dashboard_view()
def broker_account_drift(request, account_id):
    """Reconciliation's findings: our position vs the broker's, when, what was done."""
    organization = request.tenant.organization
    account = found(broker_account_get, organization=organization, account_id=account_id)
    drifts = position_drift_list(organization=organization, account=account)
    context = {"account": account, "drifts": drifts}
    return render(request, "dashboard/broker_account_drift.html", context)


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
        "open_drifts": position_drift_open_count(organization=organization, account=account),
        "has_data_key": account.broker == BrokerAccount.Broker.PAPER
        and has_alpaca_data_key(account.credentials),
        "market_data_form": MarketDataSourceForm(
            initial={"market_data_source": account.market_data_source}, account=account
        ),
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
