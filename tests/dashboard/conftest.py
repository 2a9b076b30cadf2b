import pytest
from django.test import Client

from accounts.models import Role
from tests.factories import MembershipFactory

# Who may do what in the dashboard: members read, traders and up change trading
# settings, an outsider (owner of another organization) finds nothing.
MEMBER_ROLES = [Role.OWNER, Role.ADMIN, Role.TRADER, Role.VIEWER]
WRITERS = [Role.OWNER, Role.ADMIN, Role.TRADER]
EVERYONE = [*MEMBER_ROLES, "outsider"]


@pytest.fixture
def person(org, other_org):
    """person(role) -> a user with that role in ``org``; "outsider" owns ``other_org``."""

    def make(role: str):
        if role == "outsider":
            return MembershipFactory(organization=other_org, role=Role.OWNER).user
        return MembershipFactory(organization=org, role=role).user

    return make


@pytest.fixture
def client_as(person):
    """client_as(role) -> a logged-in test client (CSRF checks on: forms must carry it)."""

    def make(role: str, *, csrf: bool = False) -> Client:
        client = Client(enforce_csrf_checks=csrf)
        client.force_login(person(role))
        return client

    return make


def expected_get(role: str) -> int:
    return 404 if role == "outsider" else 200


def expected_post(role: str) -> int:
    """A refused POST: viewer 403, outsider 404; writers are redirected (302)."""
    return {"outsider": 404, Role.VIEWER: 403}.get(role, 302)


def post_forms_in_main(response) -> int:
    """How many POST forms the page itself shows (the layout's switcher and logout
    forms are outside <main>): a viewer's pages must show none."""
    html = response.content.decode()
    main = html.split('<main id="main">', 1)[1].split("</main>", 1)[0]
    return main.count('method="post"')


from tests.browser import browser_page, chromium  # noqa: E402,F401  (fixtures)
