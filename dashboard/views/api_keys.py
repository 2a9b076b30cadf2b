from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.models import Role
from accounts.selectors import api_key_get, api_key_list
from accounts.services import api_key_create, api_key_revoke
from dashboard.access import dashboard_view
from dashboard.forms import ApiKeyForm
from dashboard.views import found


@dashboard_view(read=Role.ADMIN, write=Role.ADMIN)
def api_key_list_view(request):
    """Keys by prefix; a new key's raw value is in this one answer and nowhere else (only
    its digest is stored), so the page is rendered, not redirected, after creating it."""
    organization = request.tenant.organization
    form = ApiKeyForm(request.POST or None)
    raw = None
    if request.method == "POST" and form.is_valid():
        key, raw = api_key_create(
            organization=organization, created_by=request.user, **form.cleaned_data
        )
        form = ApiKeyForm()
        messages.success(request, f"Key {key.name} created: copy it now, it is not shown again.")
    context = {"keys": api_key_list(organization=organization), "form": form, "raw_key": raw}
    response = render(request, "dashboard/api_key_list.html", context)
    response["Cache-Control"] = "no-store"  # the raw key must not stay in a cache
    return response


@dashboard_view(read=Role.ADMIN, write=Role.ADMIN)
@require_POST
def api_key_revoke_view(request, key_id):
    key = found(api_key_get, organization=request.tenant.organization, key_id=key_id)
    api_key_revoke(key=key)
    messages.success(request, f"Key {key.prefix}… revoked: requests with it are refused.")
    return redirect("dashboard:api_key_list")
