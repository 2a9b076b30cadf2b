from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from brokers.models import Order
from brokers.selectors import order_list_pending_approval
from dashboard.access import dashboard_view
from execution.approvals import OrderNotPending, order_approve, order_reject


@dashboard_view()
def approval_list(request):
    orders = list(order_list_pending_approval(organization=request.tenant.organization))
    now = timezone.now()
    rows = [
        (
            order,
            None
            if order.approval_expires_at is None
            else max(0, int((order.approval_expires_at - now).total_seconds())),
        )
        for order in orders
    ]
    return render(request, "dashboard/approval_list.html", {"rows": rows})


def _decide(request, order_id, decision, done: str):
    try:
        decided = decision(
            organization=request.tenant.organization, order_id=order_id, user=request.user
        )
    except Order.DoesNotExist:
        raise Http404("Not found.") from None
    except OrderNotPending as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{len(decided)} order(s) {done}.")
    return redirect("dashboard:approval_list")


@dashboard_view()
@require_POST
def approval_approve(request, order_id):
    return _decide(request, order_id, order_approve, "approved and submitted")


@dashboard_view()
@require_POST
def approval_reject(request, order_id):
    return _decide(request, order_id, order_reject, "rejected")
