"""What every dashboard page's layout needs: the current organization, the user's other
organizations for the switcher, and what the current role may change."""

from accounts.auth import resolve_tenant, user_memberships
from accounts.models import Role
from dashboard.access import tenant_has_role


def dashboard(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    tenant = getattr(request, "tenant", None) or resolve_tenant(request)
    if tenant is None:
        return {"memberships": list(user_memberships(user))}
    return {
        "tenant": tenant,
        "memberships": list(user_memberships(user)),
        "can_trade": tenant_has_role(tenant, Role.TRADER),
        "can_manage": tenant_has_role(tenant, Role.ADMIN),
    }
