"""Reads of an organization's people and keys, always scoped to the organization first."""

from django.db.models import F, QuerySet

from accounts.models import ApiKey, Membership, Organization


def api_key_list(*, organization: Organization) -> QuerySet[ApiKey]:
    """Every key of the organization, active ones first, newest first."""
    keys = ApiKey.objects.for_org(organization).select_related("created_by")
    return keys.order_by(F("revoked_at").asc(nulls_first=True), "-created_at")


def api_key_get(*, organization: Organization, key_id) -> ApiKey:
    """Raises ApiKey.DoesNotExist for another tenant's key (a 404 in views)."""
    return ApiKey.objects.for_org(organization).get(pk=key_id)


def membership_list(*, organization: Organization) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(organization=organization)
        .select_related("user")
        .order_by("created_at")
    )


def membership_get(*, organization: Organization, membership_id) -> Membership:
    """Raises Membership.DoesNotExist for another tenant's membership (a 404 in views)."""
    return membership_list(organization=organization).get(pk=membership_id)


def membership_of(*, organization: Organization, user) -> Membership:
    return Membership.objects.get(organization=organization, user=user)
