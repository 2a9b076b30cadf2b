"""Who may do what through the REST API. Built on ``resolve_tenant``, the one place that
decides which organization a request acts for; every API view goes through
``TenantPermission`` and finds the tenant on ``request.tenant`` afterwards.

People are checked by role (viewer reads, trader trades, admin/owner manage) and API keys
by scope (read, signals:write, manage). A view names what it needs per kind of access.
"""

from rest_framework import exceptions, permissions

from accounts.auth import Tenant, resolve_tenant
from accounts.models import ApiKey, Role
from config import safejson

# Kinds of access a view can ask for: (minimum role for people, scope for API keys).
READ = (Role.VIEWER, ApiKey.Scope.READ)
TRADE = (Role.TRADER, ApiKey.Scope.SIGNALS_WRITE)
MANAGE = (Role.ADMIN, ApiKey.Scope.MANAGE)


class OrganizationUnavailable(exceptions.PermissionDenied):
    default_detail = "No active organization: it is suspended or you are not a member of one."
    default_code = "organization_unavailable"


def request_tenant(request) -> Tenant:
    tenant = getattr(request, "tenant", None)
    if tenant is None:
        tenant = resolve_tenant(request)
        if tenant is None:
            raise OrganizationUnavailable()
        request.tenant = tenant
    return tenant


def acting_user(request):
    """The person behind a request: the session's user, never an API key's creator (the key
    acts, not the person who once made it)."""
    if request_tenant(request).api_key is not None:
        return None
    return request.user


def view_access(view, request) -> tuple[str, str]:
    """READ for safe methods, otherwise the view's ``write_access`` (MANAGE by default);
    an action may override both through ``access_by_action``."""
    by_action = getattr(view, "access_by_action", {})
    action = getattr(view, "action", None)
    if action in by_action:
        return by_action[action]
    if request.method in permissions.SAFE_METHODS:
        return READ
    return getattr(view, "write_access", MANAGE)


class TenantPermission(permissions.BasePermission):
    message = "Your role or API key scope does not allow this."

    def has_permission(self, request, view) -> bool:
        if request.user is None and request.auth is None:
            raise exceptions.NotAuthenticated()
        tenant = request_tenant(request)
        role, scope = view_access(view, request)
        if tenant.api_key is not None and scope == ApiKey.Scope.READ:
            # A key that may manage may also read what it manages.
            return tenant.api_key.has_scope(scope) or tenant.api_key.has_scope(MANAGE[1])
        return tenant.can(role, scope)


class TenantScopedMixin:
    """For viewsets over an organization-owned model: every query is filtered by the
    request's organization, so another tenant's object is a plain 404."""

    permission_classes = [TenantPermission]
    model = None  # set by the view

    def initial(self, request, *args, **kwargs):
        # Before authentication, which reads ?apiKey= too: the query string follows the
        # body's text policy (config.safejson), so no filter or lookup meets a NUL.
        refuse_unsafe_query(request)
        super().initial(request, *args, **kwargs)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.model.objects.none()
        return self.model.objects.for_org(request_tenant(self.request).organization)

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if not getattr(self, "swagger_fake_view", False) and "request" in context:
            context["organization"] = request_tenant(self.request).organization
        return context


def refuse_unsafe_query(request) -> None:
    """A 400 naming the query parameter whose name or value holds NUL (the only character
    of the safejson policy a query string can carry: Django decodes it with replacement
    characters, so no lone surrogate survives)."""
    try:
        safejson.check_text(dict(request.query_params.lists()))
    except safejson.UnsafeText as exc:
        raise exceptions.ValidationError({exc.path.split("[", 1)[0]: [exc.message]})


def filter_params(serializer_class, request) -> dict:
    """The list filters of a request, validated (a bad one is a 400, never ignored). A
    plain dict, not the QueryDict: DRF reads an empty form value as "not sent", and
    ``?symbol=`` is a bad filter, not no filter."""
    params = serializer_class(data=request.query_params.dict())
    params.is_valid(raise_exception=True)
    return params.validated_data
