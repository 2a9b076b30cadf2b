import secrets

from django.conf import settings
from django.utils import timezone

from accounts.crypto import decrypt_text, encrypt_text
from accounts.models import Organization
from accounts.services import secret_digest
from strategies.models import Strategy
from webhooks.models import Webhook


def _new_password() -> str:
    return secrets.token_hex(16)  # 128 bits


def webhook_create(
    *, organization: Organization, strategy: Strategy, name: str, **settings_fields
) -> Webhook:
    password = _new_password()
    return Webhook.objects.create(
        organization=organization,
        strategy=strategy,
        name=name,
        asset_class=settings_fields.pop("asset_class", strategy.asset_class),
        password_digest=secret_digest(password),
        password_encrypted=encrypt_text(password),
        **settings_fields,
    )


def webhook_rotate_password(*, webhook: Webhook) -> str:
    """ "Generate New URL": a new password; from now on the old URL answers invalid-password."""
    password = _new_password()
    webhook.password_digest = secret_digest(password)
    webhook.password_encrypted = encrypt_text(password)
    webhook.password_rotated_at = timezone.now()
    webhook.save(update_fields=["password_digest", "password_encrypted", "password_rotated_at"])
    return password


def webhook_password(*, webhook: Webhook) -> str:
    return decrypt_text(webhook.password_encrypted)


def webhook_url(*, webhook: Webhook, base_url: str | None = None) -> str:
    base = (base_url or settings.PUBLIC_BASE_URL).rstrip("/")
    return f"{base}/trading/webhook/{webhook.id}/{webhook_password(webhook=webhook)}"
