"""The invitation mail. A new member's link is allauth's password-reset link (choose a
password, then log in); allauth's token generator and URL are its documented ones
(allauth.account.forms.default_token_generator, utils.user_pk_to_url_str, the
account_reset_password_from_key URL), pinned with django-allauth 65.21.1 and exercised by
tests/dashboard/test_members.py."""

from allauth.account.forms import default_token_generator
from allauth.account.models import EmailAddress
from allauth.account.utils import user_pk_to_url_str
from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse

from accounts.models import Membership


def invitation_send(*, membership: Membership, new_user: bool, base_url: str) -> None:
    user, organization = membership.user, membership.organization
    base = base_url.rstrip("/")
    if new_user:
        EmailAddress.objects.update_or_create(
            user=user, email=user.email, defaults={"verified": True, "primary": True}
        )
        path = reverse(
            "account_reset_password_from_key",
            kwargs={
                "uidb36": user_pk_to_url_str(user),
                "key": default_token_generator.make_token(user),
            },
        )
        action = f"Choose a password to join: {base}{path}"
    else:
        action = f"Log in to see it: {base}{reverse('account_login')}"
    send_mail(
        subject=f"You have been added to {organization.name} on TradeRelay",
        message=(
            f"You are now a member of {organization.name} on TradeRelay as "
            f"{membership.get_role_display().lower()}.\n\n{action}\n"
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[user.email],
    )
