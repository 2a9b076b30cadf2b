"""The front door: a landing page for visitors, the dashboard for people logged in, the
allauth pages in our layout, the demo login working at /accounts/login/, and the
current organization kept in the session among the user's own memberships."""

import json
import re
import time
from io import StringIO

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal import auth as totp_auth
from django.core import mail
from django.core.management import call_command
from django.test import Client

from accounts.auth import SESSION_ORG_KEY
from accounts.models import Membership, Organization, Role, User
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_visitor_gets_the_landing_page(client):
    response = client.get("/")
    assert response.status_code == 200
    assert b"Create a free account" in response.content
    assert b'href="/accounts/signup/"' in response.content


def test_member_gets_the_home_with_the_checklist(client, owner, org):
    client.force_login(owner)
    response = client.get("/")
    assert response.status_code == 200
    assert org.name.encode() in response.content
    assert b"Getting started" in response.content


@pytest.mark.parametrize("path", ["/strategies/", "/webhooks/", "/signals/", "/broker-accounts/"])
def test_pages_send_visitors_to_the_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_the_demo_login_works_at_accounts_login():
    out = StringIO()
    call_command("demo", "--json", stdout=out)
    info = json.loads(out.getvalue())
    client = Client()
    response = client.post(
        "/accounts/login/", {"login": info["email"], "password": info["password"]}
    )
    assert response.status_code == 302, response.content[:2000]
    assert response["Location"] == "/"
    home = client.get("/")
    assert b"Getting started" in home.content or b"Today" in home.content


def test_the_quickstart_names_the_login_page():
    out = StringIO()
    call_command("demo", "--base-url", "http://demo.test:9000", stdout=out)
    assert "Dashboard:     http://demo.test:9000/accounts/login/" in out.getvalue()


def _signup(client, email="new@example.com", password="a long pass phrase 42"):
    return client.post(
        "/accounts/signup/", {"email": email, "password1": password, "password2": password}
    )


def test_sign_up_asks_to_verify_the_email_and_the_link_logs_in(client):
    response = _signup(client)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/confirm-email/"
    assert User.objects.filter(email="new@example.com").exists()
    assert not client.get("/").wsgi_request.user.is_authenticated
    (message,) = mail.outbox
    link = re.search(r"http://testserver(/accounts/confirm-email/[^/\s]+/)", message.body)
    assert link, message.body
    confirm = client.post(link.group(1))
    assert confirm.status_code == 302
    # No organization yet: the home sends the new user to create one.
    assert client.get("/").status_code == 302
    assert client.get("/")["Location"] == "/organizations/new/"


def test_an_unverified_address_cannot_log_in(client):
    _signup(client)
    fresh = Client()
    response = fresh.post(
        "/accounts/login/", {"login": "new@example.com", "password": "a long pass phrase 42"}
    )
    assert response["Location"] == "/accounts/confirm-email/"
    assert not fresh.get("/").wsgi_request.user.is_authenticated


def test_password_reset_mails_a_link(client):
    UserFactory(email="forgot@example.com")
    response = client.post("/accounts/password/reset/", {"email": "forgot@example.com"})
    assert response.status_code == 302
    (message,) = mail.outbox
    assert "/accounts/password/reset/key/" in message.body


def _verified_user(email="totp@example.com", password="a long pass phrase 42"):
    user = UserFactory(email=email)
    user.set_password(password)
    user.save()
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    return user, password


def _now_code(secret: str) -> str:
    counter = int(time.time()) // 30
    return totp_auth.format_hotp_value(totp_auth.hotp_value(secret, counter))


def test_two_factor_totp_then_a_recovery_code_logs_in():
    user, password = _verified_user()
    client = Client()
    client.post("/accounts/login/", {"login": user.email, "password": password})
    # allauth asks for the password again before a security change.
    client.post("/accounts/reauthenticate/", {"password": password})
    assert client.get("/accounts/2fa/totp/activate/").status_code == 200
    secret = client.session[totp_auth.SECRET_SESSION_KEY]
    response = client.post("/accounts/2fa/totp/activate/", {"code": _now_code(secret)})
    assert response.status_code == 302, response.content[-2000:]
    assert Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
    codes = Authenticator.objects.get(user=user, type=Authenticator.Type.RECOVERY_CODES)
    recovery_code = codes.wrap().get_unused_codes()[0]

    again = Client()
    step = again.post("/accounts/login/", {"login": user.email, "password": password})
    assert step["Location"] == "/accounts/2fa/authenticate/"
    assert not again.get("/organizations/new/").wsgi_request.user.is_authenticated
    done = again.post("/accounts/2fa/authenticate/", {"code": recovery_code})
    assert done.status_code == 302
    assert again.get("/organizations/new/").wsgi_request.user == user


def test_creating_an_organization_makes_the_creator_its_owner(client, no_org_user):
    client.force_login(no_org_user)
    response = client.post("/organizations/new/", {"name": "Desk Two"})
    assert response.status_code == 302
    org = Organization.objects.get(name="Desk Two")
    assert Membership.objects.get(organization=org, user=no_org_user).role == Role.OWNER
    assert client.session[SESSION_ORG_KEY] == str(org.id)


def test_creating_an_organization_needs_a_name(client, no_org_user):
    client.force_login(no_org_user)
    response = client.post("/organizations/new/", {"name": ""})
    assert response.status_code == 200
    assert b"This field is required" in response.content
    assert not Organization.objects.exists()


def test_switching_to_an_own_organization(client, owner, org):
    second = OrganizationFactory(name="Second desk")
    MembershipFactory(organization=second, user=owner, role=Role.VIEWER)
    client.force_login(owner)
    client.post("/organizations/switch/", {"organization": str(second.id)})
    assert client.session[SESSION_ORG_KEY] == str(second.id)
    assert b"Second desk" in client.get("/").content


def test_switching_to_someone_elses_organization_is_refused(client, owner, org, other_org):
    client.force_login(owner)
    client.post("/organizations/switch/", {"organization": str(other_org.id)})
    assert client.session.get(SESSION_ORG_KEY) != str(other_org.id)
    response = client.get("/")
    assert org.name.encode() in response.content
    assert other_org.name.encode() not in response.content


def test_switching_needs_the_csrf_token(owner, org):
    second = OrganizationFactory()
    MembershipFactory(organization=second, user=owner)
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    response = client.post("/organizations/switch/", {"organization": str(second.id)})
    assert response.status_code == 403
    assert client.session.get(SESSION_ORG_KEY) is None
