import json

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.models import Role
from dashboard.access import dashboard_view, tenant_has_role
from dashboard.forms import WebhookForm, apply_errors
from dashboard.views import found
from webhooks.selectors import webhook_get, webhook_list
from webhooks.services import (
    webhook_create,
    webhook_delete,
    webhook_rotate_password,
    webhook_update,
    webhook_url,
)

# What TradingView fills in when an alert fires (its documented placeholders): the
# ticker, the strategy's order action (buy/sell), its position after the order
# (long/short/flat, which TradersPost reads as the sentiment), the contracts and the close.
TRADINGVIEW_MESSAGE = {
    "ticker": "{{ticker}}",
    "action": "{{strategy.order.action}}",
    "sentiment": "{{strategy.market_position}}",
    "quantity": "{{strategy.order.contracts}}",
    "price": "{{close}}",
    "time": "{{timenow}}",
}
TEST_SIGNAL = {"ticker": "AAPL", "action": "buy", "price": 190.5, "quantity": 1}


def _settings(form: WebhookForm) -> dict:
    values = dict(form.cleaned_data)
    if not values.get("asset_class"):
        values.pop("asset_class", None)
    return values


@dashboard_view()
def webhook_list_view(request):
    organization = request.tenant.organization
    form = WebhookForm(request.POST or None, organization=organization)
    if request.method == "POST" and form.is_valid():
        values = _settings(form)
        try:
            webhook = webhook_create(
                organization=organization,
                strategy=values.pop("strategy"),
                name=values.pop("name"),
                **values,
            )
        except ValidationError as error:
            apply_errors(form, error)
        else:
            messages.success(request, f"Webhook {webhook.name} created. Copy its URL below.")
            return redirect("dashboard:webhook_detail", webhook_id=webhook.id)
    webhooks = webhook_list(organization=organization)
    return render(request, "dashboard/webhook_list.html", {"webhooks": webhooks, "form": form})


@dashboard_view()
def webhook_detail(request, webhook_id):
    webhook = found(webhook_get, organization=request.tenant.organization, webhook_id=webhook_id)
    context = {"webhook": webhook}
    # The URL carries the password: only those who may manage webhooks see it.
    if tenant_has_role(request.tenant, Role.TRADER):
        # PUBLIC_BASE_URL (else this request's host) is what TradingView must post to;
        # the test signal goes to the same path on this host, so it is same-origin.
        url = webhook_url(webhook=webhook, request=request)
        context |= {
            "url": url,
            "test_path": webhook_url(webhook=webhook, base_url="/"),
            "alert_message": json.dumps(TRADINGVIEW_MESSAGE, indent=2),
            "test_signal": json.dumps(TEST_SIGNAL, indent=2),
            "curl": _curl(url),
        }
    return render(request, "dashboard/webhook_detail.html", context)


def _curl(url: str) -> str:
    body = json.dumps(TEST_SIGNAL)
    return f"curl -X POST '{url}' \\\n     -H 'Content-Type: application/json' \\\n     -d '{body}'"


# Pages that exist only to change something: a viewer is refused them outright.
@dashboard_view(read=Role.TRADER)
def webhook_edit(request, webhook_id):
    organization = request.tenant.organization
    webhook = found(webhook_get, organization=organization, webhook_id=webhook_id)
    form = WebhookForm(request.POST or None, instance=webhook, organization=organization)
    if request.method == "POST" and form.is_valid():
        try:
            webhook_update(webhook=webhook, **_settings(form))
        except ValidationError as error:
            apply_errors(form, error)
        else:
            messages.success(request, "Webhook saved.")
            return redirect("dashboard:webhook_detail", webhook_id=webhook.id)
    return render(request, "dashboard/webhook_edit.html", {"webhook": webhook, "form": form})


@dashboard_view()
@require_POST
def webhook_toggle(request, webhook_id):
    webhook = found(webhook_get, organization=request.tenant.organization, webhook_id=webhook_id)
    webhook_update(webhook=webhook, enabled=not webhook.enabled)
    messages.success(request, f"Webhook {'enabled' if webhook.enabled else 'disabled'}.")
    return redirect("dashboard:webhook_detail", webhook_id=webhook.id)


# Pages that exist only to change something: a viewer is refused them outright.
@dashboard_view(read=Role.TRADER)
def webhook_rotate(request, webhook_id):
    """GET: the confirmation; POST: Generate New URL (the old one stops working)."""
    webhook = found(webhook_get, organization=request.tenant.organization, webhook_id=webhook_id)
    if request.method == "POST":
        webhook_rotate_password(webhook=webhook)
        messages.success(
            request, "New URL generated. Update your alerts: the old URL is refused from now on."
        )
        return redirect("dashboard:webhook_detail", webhook_id=webhook.id)
    return render(request, "dashboard/webhook_rotate.html", {"webhook": webhook})


# Pages that exist only to change something: a viewer is refused them outright.
@dashboard_view(read=Role.TRADER)
def webhook_delete_view(request, webhook_id):
    """GET: the confirmation; POST: delete."""
    webhook = found(webhook_get, organization=request.tenant.organization, webhook_id=webhook_id)
    if request.method == "POST":
        name = webhook.name
        webhook_delete(webhook=webhook)
        messages.success(request, f"Webhook {name} deleted; its URL answers not-found.")
        return redirect("dashboard:webhook_list")
    return render(request, "dashboard/webhook_delete.html", {"webhook": webhook})
