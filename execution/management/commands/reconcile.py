import json

from django.core.management.base import BaseCommand, CommandError

from brokers.models import BrokerAccount
from execution.reconcile import reconcile


class Command(BaseCommand):
    help = (
        "Settle orders left non-terminal by asking their broker, and compare positions with "
        "the broker's (drift is recorded). The periodic task runs the same pass."
    )

    def add_arguments(self, parser):
        parser.add_argument("--account", help="only this broker account (its id)")

    def handle(self, *args, **options):
        accounts = None
        if options["account"]:
            accounts = list(BrokerAccount.objects.filter(pk=options["account"]))
            if not accounts:
                raise CommandError(f"No broker account {options['account']}.")
        report = reconcile(accounts=accounts)
        self.stdout.write(json.dumps(report.as_dict(), indent=2))
