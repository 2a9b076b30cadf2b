"""Members: everyone sees the list; owners and admins invite by email with a role,
change roles and remove; only an owner touches owners; the last owner stays."""

import re

import pytest
from django.core import mail
from django.test import Client

from accounts.models import Membership, Role
from tests.dashboard.conftest import EVERYONE, post_forms_in_main
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

MANAGERS = [Role.OWNER, Role.ADMIN]


def _refused(role) -> int:
    return 404 if role == "outsider" else 403


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.TRADER, Role.VIEWER])
def test_everyone_sees_the_members(client_as, role, org):
    response = client_as(role).get("/members/")
    assert response.status_code == 200
    assert (post_forms_in_main(response) > 0) == (role in MANAGERS)


@pytest.mark.parametrize("role", EVERYONE)
def test_invite_someone_new(client_as, role, org):
    response = client_as(role).post("/members/", {"email": "New@Example.com", "role": "viewer"})
    invited = Membership.objects.filter(organization=org, user__email="new@example.com")
    if role not in MANAGERS:
        assert response.status_code == (403 if role != "outsider" else 302)
        assert not invited.exists()
        return
    assert invited.get().role == Role.VIEWER
    (message,) = mail.outbox
    path = re.search(r"https?://[^/\s]+(/accounts/password/reset/key/\S+)", message.body).group(1)
    # The link sets a password, after which the new member can log in.
    person = Client()
    form_page = person.get(path, follow=True)
    assert form_page.status_code == 200
    done = person.post(
        form_page.redirect_chain[-1][0] if form_page.redirect_chain else path,
        {"password1": "a long pass phrase 42", "password2": "a long pass phrase 42"},
    )
    assert done.status_code == 302
    login = Client().post(
        "/accounts/login/", {"login": "new@example.com", "password": "a long pass phrase 42"}
    )
    assert login["Location"] == "/"


def test_inviting_a_member_twice_is_a_field_error(client_as, org):
    person = client_as(Role.OWNER)
    person.post("/members/", {"email": "x@example.com", "role": "trader"})
    response = person.post("/members/", {"email": "x@example.com", "role": "viewer"})
    assert b"Already a member of this organization." in response.content
    assert Membership.objects.get(user__email="x@example.com").role == Role.TRADER


@pytest.mark.parametrize("role", EVERYONE)
def test_change_a_role(client_as, role, org):
    target = MembershipFactory(organization=org, role=Role.VIEWER)
    response = client_as(role).post(f"/members/{target.id}/role/", {"role": "trader"})
    assert response.status_code == (302 if role in MANAGERS else _refused(role))
    target.refresh_from_db()
    assert (target.role == Role.TRADER) == (role in MANAGERS)


@pytest.mark.parametrize("role", EVERYONE)
def test_remove(client_as, role, org):
    target = MembershipFactory(organization=org, role=Role.TRADER)
    response = client_as(role).post(f"/members/{target.id}/remove/")
    assert response.status_code == (302 if role in MANAGERS else _refused(role))
    assert Membership.objects.filter(pk=target.pk).exists() == (role not in MANAGERS)


def test_an_admin_cannot_touch_an_owner(client_as, org):
    owner = MembershipFactory(organization=org, role=Role.OWNER)
    admin = client_as(Role.ADMIN)
    admin.post(f"/members/{owner.id}/role/", {"role": "viewer"})
    admin.post(f"/members/{owner.id}/remove/")
    admin.post("/members/", {"email": "boss@example.com", "role": "owner"})
    owner.refresh_from_db()
    assert owner.role == Role.OWNER
    assert not Membership.objects.filter(user__email="boss@example.com").exists()


def test_the_last_owner_stays(client, person, org):
    only_owner = person(Role.OWNER)
    client.force_login(only_owner)
    me = Membership.objects.get(user=only_owner)
    response = client.post(f"/members/{me.id}/role/", {"role": "admin"}, follow=True)
    assert b"The last owner cannot be removed or demoted." in response.content
    client.post(f"/members/{me.id}/remove/")
    me.refresh_from_db()
    assert me.role == Role.OWNER
    second = MembershipFactory(organization=org, role=Role.OWNER)
    client.post(f"/members/{second.id}/remove/")
    assert not Membership.objects.filter(pk=second.pk).exists()
