"""python manage.py trade_stream: the long-running process that brings fills back from
Alpaca (its trade-update stream, one websocket per active Alpaca account's keys, with
polling of open orders as the fallback). Run one per installation, supervised like the
worker; SIGTERM or SIGINT stops it cleanly."""

import signal
import threading

from django.core.management.base import BaseCommand

from execution.streaming import TradeStreamRunner


class Command(BaseCommand):
    help = "Apply Alpaca's trade updates (fills, cancels) to our orders and positions."

    def handle(self, *args, **options):
        stop = threading.Event()

        def request_stop(signum, frame):
            stop.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        self.stdout.write("trade stream started", ending="\n")
        self.stdout.flush()
        TradeStreamRunner().run(stop)
        self.stdout.write("trade stream stopped")
