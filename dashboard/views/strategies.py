from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST, require_safe

from accounts.models import Role
from brokers.selectors import broker_account_list
from dashboard.access import dashboard_view, tenant_has_role
from dashboard.forms import PreviewForm, StrategyForm, SubscriptionForm, apply_errors
from dashboard.views import found
from signals.preview import signal_preview
from strategies.selectors import strategy_get, strategy_list, subscription_get, subscription_list
from strategies.services import (
    strategy_create,
    strategy_update,
    subscription_create,
    subscription_draft,
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


@dashboard_view(read=Role.TRADER)  # a form to subscribe, nothing else to see
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
    context = {
        "strategy": strategy,
        "form": form,
        "no_accounts": not accounts.exists(),
        "preview_form": PreviewForm(),
    }
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
    context = {
        "strategy": subscription.strategy,
        "subscription": subscription,
        "form": _read_only_for_viewers(request, form),
        "preview_form": PreviewForm(),
    }
    return render(request, "dashboard/subscription_form.html", context)


def _read_only_for_viewers(request, form):
    # A viewer sees the settings, never a form that would be refused.
    if not tenant_has_role(request.tenant, Role.TRADER):
        for field in form.fields.values():
            field.disabled = True
    return form


@dashboard_view(read=Role.TRADER)  # as the page it belongs to
@require_safe
def subscription_new_preview(request, strategy_id):
    organization = request.tenant.organization
    strategy = found(strategy_get, organization=organization, strategy_id=strategy_id)
    accounts = _subscribable_accounts(organization, strategy)
    form = SubscriptionForm(request.GET, organization=organization, accounts=accounts)
    return _preview(request, strategy, form, subscription=None)


@dashboard_view()
@require_safe
def subscription_preview(request, subscription_id):
    organization = request.tenant.organization
    subscription = found(
        subscription_get, organization=organization, subscription_id=subscription_id
    )
    accounts = broker_account_list(organization=organization)
    form = _read_only_for_viewers(
        request,
        SubscriptionForm(
            request.GET, instance=subscription, organization=organization, accounts=accounts
        ),
    )
    return _preview(request, subscription.strategy, form, subscription=subscription)


def _preview(request, strategy, form, *, subscription):
    """The planned orders for the preview's signal with the settings the form holds now
    (saved or not); nothing is written."""
    preview_form = PreviewForm(request.GET)
    context = {"preview_form": preview_form, "strategy": strategy, "subscription": subscription}
    draft = None
    if subscription is not None and "sizing_method" not in request.GET:
        draft = subscription  # no settings sent (a plain link, no JavaScript): the saved ones
    elif form.is_valid():
        try:
            draft = subscription_draft(
                organization=request.tenant.organization,
                strategy=strategy,
                subscription=subscription,
                **form.cleaned_data,
            )
        except ValidationError as error:
            apply_errors(form, error)
    if preview_form.is_valid() and draft is not None:
        signal = preview_form.cleaned_data
        context["preview"] = signal_preview(
            organization=request.tenant.organization,
            strategy=strategy,
            account=draft.account,
            settings=draft,
            ticker=signal["ticker"],
            action=signal["action"],
            sentiment=signal["sentiment"] or None,
            quantity=signal["quantity"],
            price=signal["price"],
        )
    context["settings_errors"] = [
        (form[name].label if name in form.fields else "", error)
        for name, errors in (form.errors.items() if draft is None else ())
        for error in errors
    ]
    template = (
        "dashboard/_subscription_preview.html"
        if request.htmx
        else "dashboard/subscription_preview.html"
    )
    return render(request, template, context)
