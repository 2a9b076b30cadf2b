from dataclasses import dataclass
from datetime import datetime, time

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.auth import SESSION_ORG_KEY, resolve_tenant, user_memberships
from accounts.services import organization_create
from brokers.models import BrokerAccount
from brokers.selectors import broker_account_list, order_list
from dashboard.access import dashboard_view
from dashboard.forms import OrganizationForm
from signals.selectors import (
    signal_any,
    signal_counts_by_day,
    signal_list_page,
    signal_status_counts_since,
)
from strategies.selectors import strategy_list, subscription_list
from webhooks.selectors import webhook_list


@dataclass(frozen=True)
class Step:
    title: str
    done: bool
    url_name: str
    hint: str


def index(request):
    """The landing page for visitors; the dashboard home for people who are logged in."""
    if not request.user.is_authenticated:
        return render(request, "dashboard/landing.html")
    return home(request)


def _getting_started(organization) -> list[Step]:
    accounts = broker_account_list(organization=organization)
    return [
        Step(
            "Add a paper account",
            accounts.filter(mode=BrokerAccount.Mode.PAPER).exists(),
            "dashboard:broker_account_list",
            "Play money to try everything safely.",
        ),
        Step(
            "Create a strategy",
            strategy_list(organization=organization).exists(),
            "dashboard:strategy_list",
            "A strategy groups the signals of one trading idea.",
        ),
        Step(
            "Subscribe an account to the strategy",
            subscription_list(organization=organization).exists(),
            "dashboard:strategy_list",
            "Decides how each signal becomes an order in that account.",
        ),
        Step(
            "Create a webhook",
            webhook_list(organization=organization).exists(),
            "dashboard:webhook_list",
            "The URL you paste into a TradingView alert.",
        ),
        Step(
            "Receive a first signal",
            signal_any(organization=organization),
            "dashboard:webhook_list",
            "Send a test signal from the webhook's page, or fire your alert.",
        ),
    ]


@dashboard_view()
def home(request):
    organization = request.tenant.organization
    steps = _getting_started(organization)
    context = {"steps": steps, "setup_done": all(step.done for step in steps)}
    if context["setup_done"]:
        today = timezone.make_aware(datetime.combine(timezone.localdate(), time.min))
        counts = signal_status_counts_since(organization=organization, since=today)
        context |= {
            "counts": counts,
            "signals_today": sum(counts.values()),
            "orders_today": order_list(organization=organization)
            .filter(created_at__gte=today)
            .count(),
            "recent": signal_list_page(organization=organization, size=10).signals,
        } | _per_day(organization)
    return render(request, "dashboard/home.html", context)


def _per_day(organization) -> dict:
    per_day = signal_counts_by_day(organization=organization)
    labels = [day.strftime("%b %-d") for day in per_day["days"]]
    groups = ("accepted", "rejected", "duplicate")
    return {
        "per_day": per_day,
        "per_day_json": {"days": labels, **{g: per_day[g] for g in groups}},
        "per_day_rows": list(zip(per_day["days"], *(per_day[g] for g in groups), strict=True)),
    }


@login_required
def organization_new(request):
    form = OrganizationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        org = organization_create(name=form.cleaned_data["name"], owner=request.user)
        request.session[SESSION_ORG_KEY] = str(org.id)
        messages.success(request, f"Organization {org.name} created; you are its owner.")
        return redirect("dashboard:home")
    has_active = resolve_tenant(request) is not None
    return render(
        request, "dashboard/organization_new.html", {"form": form, "has_active": has_active}
    )


@login_required
@require_POST
def organization_switch(request):
    wanted = request.POST.get("organization", "")
    membership = next(
        (m for m in user_memberships(request.user) if str(m.organization_id) == wanted), None
    )
    if membership is None or not membership.organization.is_active:
        messages.error(request, "You are not a member of that organization.")
    else:
        request.session[SESSION_ORG_KEY] = str(membership.organization_id)
    return redirect("dashboard:home")
