import pytest
from django.core.cache import cache

from accounts.models import Role
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory


@pytest.fixture(autouse=True)
def _clear_cache():
    # Rate-limit counters live in the cache (Redis in CI): each test starts from zero.
    cache.clear()
    yield


@pytest.fixture
def org():
    return OrganizationFactory()


@pytest.fixture
def other_org():
    return OrganizationFactory()


@pytest.fixture
def owner(org):
    return MembershipFactory(organization=org, role=Role.OWNER).user


@pytest.fixture
def member(org):
    return MembershipFactory(organization=org, role=Role.TRADER).user


@pytest.fixture
def viewer(org):
    return MembershipFactory(organization=org, role=Role.VIEWER).user


@pytest.fixture
def outsider(other_org):
    """Owner of another organization: must never see the first one's rows."""
    return MembershipFactory(organization=other_org, role=Role.OWNER).user


@pytest.fixture
def no_org_user():
    return UserFactory()
