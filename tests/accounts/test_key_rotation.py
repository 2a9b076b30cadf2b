"""Secrets at rest: broker credentials round-trip encrypted, and rotate_encryption_key
re-encrypts every stored secret under the new first key, so the old one can be dropped."""

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.management import CommandError, call_command

from brokers.models import BrokerAccount
from tests.factories import BrokerAccountFactory, StrategyFactory
from webhooks.services import webhook_create, webhook_password

pytestmark = pytest.mark.django_db
CREDENTIALS = {"api_key": "PKROTATE1", "secret_key": "a-secret-that-must-survive"}


def test_round_trip_never_stores_the_plaintext(settings, org):
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    account = BrokerAccountFactory(organization=org, broker="alpaca")
    account.credentials = CREDENTIALS
    account.save()
    stored = BrokerAccount.objects.get(pk=account.pk)
    assert CREDENTIALS["secret_key"] not in stored.credentials_encrypted
    assert CREDENTIALS["api_key"] not in stored.credentials_encrypted
    assert stored.credentials == CREDENTIALS


def test_rotation_moves_every_secret_to_the_new_key(settings, org):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    account = BrokerAccountFactory(organization=org, broker="alpaca")
    account.credentials = CREDENTIALS
    account.save()
    webhook = webhook_create(
        organization=org, strategy=StrategyFactory(organization=org), name="tv"
    )
    password = webhook_password(webhook=webhook)

    settings.FIELD_ENCRYPTION_KEYS = [new]  # the old key dropped too early: unreadable
    with pytest.raises(InvalidToken):
        BrokerAccount.objects.get(pk=account.pk).credentials  # noqa: B018

    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    call_command("rotate_encryption_key")
    settings.FIELD_ENCRYPTION_KEYS = [new]  # now the old key can go
    assert BrokerAccount.objects.get(pk=account.pk).credentials == CREDENTIALS
    webhook.refresh_from_db()
    assert webhook_password(webhook=webhook) == password
    call_command("rotate_encryption_key")  # idempotent
    assert BrokerAccount.objects.get(pk=account.pk).credentials == CREDENTIALS


def test_a_value_no_key_opens_is_reported(settings, org):
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    account = BrokerAccountFactory(organization=org, broker="alpaca")
    account.credentials = CREDENTIALS
    account.save()
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(CommandError, match="1 value"):
        call_command("rotate_encryption_key")
