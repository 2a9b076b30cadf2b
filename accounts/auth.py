"""The one place that resolves a request's organization: the API key's for API-key
requests, the session's chosen membership for the dashboard."""

from dataclasses import dataclass

from rest_framework import authentication, exceptions

from accounts.models import ApiKey, Membership, Organization, Role
from accounts.services import api_key_authenticate

SESSION_ORG_KEY = "organization_id"


@dataclass(frozen=True)
class Tenant:
    organization: Organization
    role: str | None  # the member's role; None for an API key
    api_key: ApiKey | None = None

    def can(self, minimum_role: str, scope: str) -> bool:
        """Role check for people, scope check for keys."""
        if self.api_key is not None:
            return self.api_key.has_scope(scope)
        return Membership(role=self.role).has_role(minimum_role)


def api_key_from_request(request) -> str | None:
    # The header is preferred; ?apiKey= exists because UTM documents it.
    return request.META.get("HTTP_X_API_KEY") or request.GET.get("apiKey") or None


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        raw = api_key_from_request(request)
        if raw is None:
            return None
        key = api_key_authenticate(raw=raw)
        if key is None:
            raise exceptions.AuthenticationFailed("API key is missing or invalid.")
        return (key.created_by, key)

    def authenticate_header(self, request) -> str:
        return "X-API-Key"


def user_memberships(user):
    return (
        Membership.objects.filter(user=user).select_related("organization").order_by("created_at")
    )


def resolve_tenant(request) -> Tenant | None:
    """The organization this request acts for, or None (not authenticated, no membership,
    or a suspended organization)."""
    auth = getattr(request, "auth", None)
    if isinstance(auth, ApiKey):
        org = auth.organization
        return Tenant(org, None, auth) if org.is_active else None
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    memberships = user_memberships(user)
    wanted = request.session.get(SESSION_ORG_KEY) if hasattr(request, "session") else None
    membership = None
    if wanted:
        membership = memberships.filter(organization_id=wanted).first()
    membership = membership or memberships.first()
    if membership is None or not membership.organization.is_active:
        return None
    return Tenant(membership.organization, membership.role)


__all__ = ["Tenant", "Role", "resolve_tenant", "ApiKeyAuthentication", "api_key_from_request"]
