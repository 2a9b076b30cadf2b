"""Who may see and do what in the dashboard, decided once for every view.

The organization comes from ``accounts.auth.resolve_tenant`` (the session's choice among
the user's own memberships), so a view never looks at an organization id from the
request. Reads need the viewer role; a POST needs the role the view names (trader by
default). Another organization's object is found through selectors that take the
organization first, so it is a 404 exactly like one that does not exist.
"""

import functools

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect

from accounts.auth import Tenant, resolve_tenant
from accounts.models import Membership, Role


def tenant_has_role(tenant: Tenant, minimum: str) -> bool:
    return Membership(role=tenant.role).has_role(minimum)


def dashboard_view(*, write: str = Role.TRADER, read: str = Role.VIEWER):
    """Login required; ``request.tenant`` set (no active organization: off to create one);
    a request from a role below ``read``, or a POST from a role below ``write``, is refused
    with 403 before the view runs."""

    def decorate(view):
        @login_required
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            tenant = resolve_tenant(request)
            if tenant is None:
                return redirect("dashboard:organization_new")
            request.tenant = tenant
            if not tenant_has_role(tenant, read):
                raise PermissionDenied("Your role does not allow this page.")
            if request.method not in ("GET", "HEAD") and not tenant_has_role(tenant, write):
                raise PermissionDenied("Your role does not allow this change.")
            return view(request, *args, **kwargs)

        return wrapper

    return decorate
