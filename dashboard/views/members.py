from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.models import Role
from accounts.selectors import membership_get, membership_list, membership_of
from accounts.services import member_invite, membership_remove, membership_set_role
from dashboard.access import dashboard_view
from dashboard.forms import InviteForm, RoleForm, apply_errors
from dashboard.views import found


def _me(request):
    return membership_of(organization=request.tenant.organization, user=request.user)


@dashboard_view(write=Role.ADMIN)
def member_list(request):
    """Everyone sees who is in the organization; owners and admins invite, change roles
    and remove (the plan's limits are shown read-only)."""
    organization = request.tenant.organization
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            membership = member_invite(
                organization=organization,
                by=_me(request),
                base_url=settings.PUBLIC_BASE_URL or request.build_absolute_uri("/"),
                **form.cleaned_data,
            )
        except ValidationError as error:
            apply_errors(form, error)
        else:
            messages.success(request, f"{membership.user.email} added and mailed.")
            return redirect("dashboard:member_list")
    context = {
        "members": membership_list(organization=organization),
        "form": form,
        "roles": Role.choices,
        "organization": organization,
    }
    return render(request, "dashboard/member_list.html", context)


@dashboard_view(write=Role.ADMIN)
@require_POST
def member_role(request, membership_id):
    membership = found(
        membership_get, organization=request.tenant.organization, membership_id=membership_id
    )
    form = RoleForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError({"role": "Not a role."})
        membership_set_role(membership=membership, role=form.cleaned_data["role"], by=_me(request))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request, f"{membership.user.email} is now {membership.get_role_display().lower()}."
        )
    return redirect("dashboard:member_list")


@dashboard_view(write=Role.ADMIN)
@require_POST
def member_remove(request, membership_id):
    membership = found(
        membership_get, organization=request.tenant.organization, membership_id=membership_id
    )
    try:
        membership_remove(membership=membership, by=_me(request))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"{membership.user.email} removed.")
    return redirect("dashboard:member_list")
