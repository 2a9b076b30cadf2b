from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from brokers.selectors import broker_account_list
from dashboard.access import dashboard_view
from dashboard.forms import StrategyForm, SubscriptionForm, apply_errors
from dashboard.views import found
from strategies.selectors import strategy_get, strategy_list, subscription_get, subscription_list
from strategies.services import (
    strategy_create,
    strategy_update,
    subscription_create,
    subscription_update,
)
from webhooks.selectors import webhook_list


@dashboard_view()
def strategy_list_view(request):
    organization = request.tenant.organization
    form = StrategyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            strategy = strategy_create(organization=organization, **form.cleaned_data)
        except ValidationError as error:
            apply_errors(form, error)
        else:
            messages.success(request, f"Strategy {strategy.name} created.")
            return redirect("dashboard:strategy_detail", strategy_id=strategy.id)
    strategies = strategy_list(organization=organization)
    return render(request, "dashboard/strategy_list.html", {"strategies": strategies, "form": form})


@dashboard_view()
def strategy_detail(request, strategy_id):
    organization = request.tenant.organization
    strategy = found(strategy_get, organization=organization, strategy_id=strategy_id)
    form = StrategyForm(request.POST or None, instance=strategy)
    if request.method == "POST" and form.is_valid():
        try:
            strategy_update(strategy=strategy, **form.cleaned_data)
        except ValidationError as error:
            apply_errors(form, error)
        else:
            messages.success(request, "Strategy saved.")
            return redirect("dashboard:strategy_detail", strategy_id=strategy.id)
    context = {
        "strategy": strategy,
        "form": form,
        "subscriptions": subscription_list(organization=organization, strategy=strategy),
        "webhooks": webhook_list(organization=organization).filter(strategy=strategy),
    }
    return render(request, "dashboard/strategy_detail.html", context)


@dashboard_view()
@require_POST
def strategy_toggle(request, strategy_id):
    strategy = found(
        strategy_get, organization=request.tenant.organization, strategy_id=strategy_id
    )
    strategy_update(strategy=strategy, enabled=not strategy.enabled)
    messages.success(request, f"Strategy {'enabled' if strategy.enabled else 'disabled'}.")
    return redirect("dashboard:strategy_detail", strategy_id=strategy.id)


def _subscribable_accounts(organization, strategy):
    taken = subscription_list(organization=organization, strategy=strategy).values("account_id")
    return broker_account_list(organization=organization).exclude(pk__in=taken)


@dashboard_view()
def subscription_new(request, strategy_id):
    organization = request.tenant.organization
    strategy = found(strategy_get, organization=organization, strategy_id=strategy_id)
    accounts = _subscribable_accounts(organization, strategy)
    form = SubscriptionForm(request.POST or None, organization=organization, accounts=accounts)
    if request.method == "POST" and form.is_valid():
        settings = dict(form.cleaned_data)
        account = settings.pop("account")
        try:
            subscription_create(
                organization=organization, strategy=strategy, account=account, **settings
            )
        except ValidationError as error:
            apply_errors(form, error)
        else:
            messages.success(request, f"{account.name} now follows {strategy.name}.")
            return redirect("dashboard:strategy_detail", strategy_id=strategy.id)
    context = {"strategy": strategy, "form": form, "no_accounts": not accounts.exists()}
    return render(request, "dashboard/subscription_form.html", context)


@dashboard_view()
def subscription_edit(request, subscription_id):
    organization = request.tenant.organization
    subscription = found(
        subscription_get, organization=organization, subscription_id=subscription_id
    )
    accounts = broker_account_list(organization=organization)
    form = SubscriptionForm(
        request.POST or None, instance=subscription, organization=organization, accounts=accounts
    )
    if request.method == "POST" and form.is_valid():
        settings = {k: v for k, v in form.cleaned_data.items() if k != "account"}
        try:
            subscription_update(subscription=subscription, **settings)
        except ValidationError as error:
            apply_errors(form, error)
        else:
            messages.success(request, "Subscription saved.")
            return redirect("dashboard:strategy_detail", strategy_id=subscription.strategy_id)
    context = {"strategy": subscription.strategy, "subscription": subscription, "form": form}
    return render(request, "dashboard/subscription_form.html", context)
