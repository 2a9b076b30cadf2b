"""python manage.py refresh_instruments (--account ID | --broker alpaca) [--prune]: refresh
the ticker database from a broker's asset list (adapter.list_instruments()), so
ticker-does-not-exist follows what the broker trades. --broker uses the first active
account of that broker that has credentials (the asset list is the same for every
account); --prune deactivates symbols of the listed asset classes the broker no longer
names. The local caches of lookups are cleared; other processes see the change within
a minute."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from brokers.adapters import get_adapter
from brokers.adapters.base import BrokerError
from brokers.instruments import instruments_refresh
from brokers.models import BrokerAccount


class Command(BaseCommand):
    help = "Refresh Instrument rows from a broker's asset list."

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--account", help="id of the broker account to ask")
        which.add_argument(
            "--broker",
            choices=[b for b in BrokerAccount.Broker.values if b != BrokerAccount.Broker.PAPER],
            help="ask the first active account of this broker",
        )
        parser.add_argument(
            "--prune", action="store_true", help="deactivate symbols the broker no longer lists"
        )

    def handle(self, *args, account=None, broker=None, prune=False, **options):
        chosen = self._account(account, broker)
        try:
            infos = get_adapter(chosen).list_instruments()
        except NotImplementedError:
            raise CommandError(f"The {chosen.broker} broker has no asset list.") from None
        except BrokerError as exc:
            raise CommandError(f"{chosen.name}: {exc}") from None
        counts = instruments_refresh(infos, prune=prune)
        self.stdout.write(
            self.style.SUCCESS(
                f"{len(infos)} instruments from {chosen.broker} ({chosen.name}): "
                f"{counts['created']} new, {counts['updated']} updated, "
                f"{counts['deactivated']} deactivated."
            )
        )

    @staticmethod
    def _account(account_id, broker) -> BrokerAccount:
        if account_id:
            try:
                return BrokerAccount.objects.get(pk=account_id)
            except (BrokerAccount.DoesNotExist, ValidationError, ValueError):
                raise CommandError(f"No broker account {account_id!r}.") from None
        found = (
            BrokerAccount.objects.filter(broker=broker, status=BrokerAccount.Status.ACTIVE)
            .exclude(credentials_encrypted="")
            .order_by("created_at")
            .first()
        )
        if found is None:
            raise CommandError(f"No active {broker} account with credentials to ask.")
        return found
