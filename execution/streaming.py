"""Fills flowing back from the network brokers, in one long-running process (``python
manage.py trade_stream``): Alpaca's trade-update stream (alpaca-py's TradingStream, one
websocket per distinct API key of the active Alpaca accounts), and polling of our open
orders, Alpaca's as the stream's fallback and the crypto exchanges' (no stream of theirs
here) always.

Each stream runs its own event loop in its own thread (TradingStream.run); its handler
only puts the event on a queue. The process's main thread applies them, so every
database write happens on one thread, outside any event loop (Django's ORM is
synchronous), in the order the events came.

Positions of Alpaca accounts are the broker's: the pipeline plans against
adapter.get_position, and our Position row of an Alpaca account (what the API and the
dashboard show) is rewritten from Alpaca's own position after every fill the stream or
the poller sees (execution.positions), never computed from our fills.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import queue
import threading
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db import close_old_connections, connections

from brokers.adapters import get_adapter
from brokers.adapters.base import BrokerError, OrderUpdate
from brokers.models import BrokerAccount, Order
from execution.brokers import network_brokers
from execution.positions import position_sync
from execution.records import OPEN_AT_BROKER, order_apply_update

logger = logging.getLogger(__name__)

# Our order statuses an Alpaca order may still move from.
FILL_EVENTS = ("fill", "partial_fill")


def broker_update_apply(*, update: OrderUpdate, account: BrokerAccount) -> Order | None:
    """Apply a broker's report of one order through the one service that does it (the
    submission path uses the same), so the stream and polling can never disagree with it."""
    return order_apply_update(update=update, account=account)


def _fingerprint(credentials: dict) -> str:
    raw = f"{credentials.get('api_key', '')}\0{credentials.get('secret_key', '')}"
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass
class _Stream:
    fingerprint: str
    account_ids: list
    stream: object
    thread: threading.Thread


@dataclass
class TradeStreamRunner:
    """What ``manage.py trade_stream`` runs; ``run(stop)`` until ``stop`` is set."""

    refresh_seconds: float = field(default_factory=lambda: settings.TRADE_STREAM_REFRESH_SECONDS)
    poll_min: float = field(default_factory=lambda: settings.TRADE_STREAM_POLL_MIN_SECONDS)
    poll_max: float = field(default_factory=lambda: settings.TRADE_STREAM_POLL_MAX_SECONDS)
    events: queue.Queue = field(default_factory=queue.Queue)
    streams: dict = field(default_factory=dict)  # fingerprint -> _Stream
    applied: int = 0

    def run(self, stop: threading.Event) -> None:
        poll_every = self.poll_min
        next_refresh = next_poll = 0.0
        try:
            while not stop.is_set():
                now = time.monotonic()
                if now >= next_refresh:
                    if self._refresh():
                        poll_every = self.poll_min  # a new stream missed what came before
                    next_refresh = now + self.refresh_seconds
                if now >= next_poll:
                    changed = self._poll()
                    poll_every = self.poll_min if changed else min(poll_every * 2, self.poll_max)
                    next_poll = time.monotonic() + poll_every
                self._drain(timeout=min(0.5, max(0.01, next_poll - time.monotonic())))
        finally:
            for running in list(self.streams.values()):
                self._stop_stream(running)
            self.streams.clear()
            connections.close_all()  # this thread's: a test database must be droppable

    # -- streams -------------------------------------------------------------------------

    def _refresh(self) -> bool:
        """Start a stream for each distinct key of the active Alpaca accounts; stop those
        no account uses any more. True when a stream was started."""
        close_old_connections()
        wanted: dict[str, list] = {}
        accounts = {}
        rows = BrokerAccount.objects.filter(
            broker=BrokerAccount.Broker.ALPACA, status=BrokerAccount.Status.ACTIVE
        ).exclude(credentials_encrypted="")
        for account in rows:
            credentials = account.credentials
            if not credentials.get("api_key") or not credentials.get("secret_key"):
                continue
            key = _fingerprint(credentials) + account.mode
            wanted.setdefault(key, []).append(account.pk)
            accounts[key] = account
        for key in set(self.streams) - set(wanted):
            self._stop_stream(self.streams.pop(key))
        started = False
        for key, account_ids in wanted.items():
            if key in self.streams:
                self.streams[key].account_ids = account_ids
                continue
            self.streams[key] = self._start_stream(key, accounts[key], account_ids)
            started = True
        return started

    def _start_stream(self, key: str, account: BrokerAccount, account_ids: list) -> _Stream:
        from alpaca.trading.stream import TradingStream

        credentials = account.credentials
        stream = TradingStream(
            credentials["api_key"],
            credentials["secret_key"],
            paper=account.mode != BrokerAccount.Mode.LIVE,
            url_override=settings.ALPACA_STREAM_URL or None,
        )
        events = self.events

        async def on_trade_update(data):
            events.put((key, data))

        stream.subscribe_trade_updates(on_trade_update)
        thread = threading.Thread(target=stream.run, name=f"alpaca-stream-{key[:8]}", daemon=True)
        thread.start()
        logger.info("Alpaca trade stream started for %d account(s)", len(account_ids))
        return _Stream(fingerprint=key, account_ids=account_ids, stream=stream, thread=thread)

    @staticmethod
    def _stop_stream(running: _Stream) -> None:
        loop = getattr(running.stream, "_loop", None)
        if loop is not None and loop.is_running():
            try:
                asyncio.run_coroutine_threadsafe(running.stream.stop_ws(), loop).result(5)
            except Exception:  # the loop ended meanwhile: nothing left to stop
                logger.debug("stream already stopped", exc_info=True)
        running.thread.join(10)

    # -- applying events ---------------------------------------------------------------------

    def _drain(self, timeout: float) -> None:
        try:
            key, data = self.events.get(timeout=timeout)
        except queue.Empty:
            return
        close_old_connections()
        while True:
            self._apply_event(key, data)
            try:
                key, data = self.events.get_nowait()
            except queue.Empty:
                return

    def _apply_event(self, key: str, data) -> None:
        running = self.streams.get(key)
        if running is None:
            return
        event = getattr(data.event, "value", data.event)
        accounts = BrokerAccount.objects.filter(pk__in=running.account_ids)
        for account in accounts:
            try:
                adapter = get_adapter(account)
                update = adapter.trade_update(data.order)
                order = broker_update_apply(update=update, account=account)
                if order is None:
                    continue
                self.applied += 1
                if event in FILL_EVENTS:
                    position_sync(account=account, symbol=order.symbol)
                return
            except BrokerError as exc:
                logger.warning("Applying Alpaca %s event failed: %s", event, exc)
            except Exception:
                # The poller will bring the order in line later; the stream goes on.
                logger.exception("Applying an Alpaca %s event failed", event)
                return

    # -- the fallback: polling -------------------------------------------------------------

    def _poll(self) -> bool:
        """Ask the broker for each of our orders it has not finished, at every network
        broker: Alpaca's fallback when its stream is down or missed an event, and the only
        way back for the ccxt exchanges' fills (no stream of theirs here). True if any
        order moved."""
        close_old_connections()
        changed = False
        orders = Order.objects.filter(
            account__broker__in=network_brokers(),
            account__status=BrokerAccount.Status.ACTIVE,
            status__in=OPEN_AT_BROKER,
        ).select_related("account")
        for order in orders:
            try:
                update = get_adapter(order.account).get_order(order.client_order_id)
                if update is None:
                    continue
                if (update.status, update.filled_quantity) == (
                    order.status,
                    order.filled_quantity,
                ):
                    continue
                broker_update_apply(update=update, account=order.account)
                changed = True
                if update.filled_quantity != order.filled_quantity:
                    position_sync(account=order.account, symbol=order.symbol)
            except BrokerError as exc:
                logger.warning("Polling order %s failed: %s", order.client_order_id, exc)
            except Exception:
                logger.exception("Polling order %s failed", order.client_order_id)
        return changed
