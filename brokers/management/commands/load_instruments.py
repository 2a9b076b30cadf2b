"""python manage.py load_instruments [--path P]: load or refresh the ticker database from
the fixture shipped with the project (brokers/fixtures/instruments.json) or another file
of the same shape. Safe to re-run: rows are matched on (symbol, asset class)."""

from django.core.management.base import BaseCommand

from brokers.instruments import FIXTURE_PATH, instruments_load


class Command(BaseCommand):
    help = "Load or refresh the ticker database (Instrument rows) from a JSON fixture."

    def add_arguments(self, parser):
        parser.add_argument("--path", default=None, help=f"JSON file (default {FIXTURE_PATH})")

    def handle(self, *args, path=None, **options):
        count = instruments_load(path)
        self.stdout.write(self.style.SUCCESS(f"{count} instruments loaded."))
