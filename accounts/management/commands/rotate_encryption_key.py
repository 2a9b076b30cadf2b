"""python manage.py rotate_encryption_key: re-encrypt every secret stored at rest (broker
credentials, webhook URL passwords) under the first key of FIELD_ENCRYPTION_KEYS.

Rotation: prepend the new key (FIELD_ENCRYPTION_KEYS=new,old), restart, run this, then
drop the old key. Safe to re-run; each row is rewritten in its own short transaction with
a conditional UPDATE, so a row changed meanwhile is left to its writer (who encrypted it
with the new key already)."""

from cryptography.fernet import InvalidToken
from django.core.management.base import BaseCommand, CommandError

from accounts.crypto import reencrypt_text
from brokers.models import BrokerAccount
from webhooks.models import Webhook

FIELDS = [(BrokerAccount, "credentials_encrypted"), (Webhook, "password_encrypted")]


class Command(BaseCommand):
    help = "Re-encrypt every stored secret under the first key of FIELD_ENCRYPTION_KEYS."

    def handle(self, *args, **options):
        unreadable = 0
        for model, field in FIELDS:
            rotated = 0
            rows = model.objects.exclude(**{field: ""}).values_list("pk", field)
            for pk, token in rows.iterator():
                try:
                    fresh = reencrypt_text(token)
                except InvalidToken:
                    unreadable += 1
                    self.stderr.write(f"{model.__name__} {pk}: no configured key opens it")
                    continue
                rotated += model.objects.filter(pk=pk, **{field: token}).update(**{field: fresh})
            self.stdout.write(f"{model.__name__}.{field}: {rotated} re-encrypted")
        if unreadable:
            raise CommandError(f"{unreadable} value(s) could not be decrypted with any key")
