"""Who a signal goes to: every enabled subscription of its strategy (TradersPost), or the
one account it names (UTM), with the settings that size its orders; and the ticker's
instrument (asset class, quantity step)."""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass
from decimal import Decimal

from django.core.cache import cache

from brokers.models import BrokerAccount
from config.compiled import CompiledQuery
from signals.models import Signal
from strategies.models import Subscription
from strategies.selectors import (
    instrument_find,
    subscription_for_account,
    subscription_list_for_fanout,
)

logger = logging.getLogger(__name__)


@dataclass
class Target:
    """One account a signal goes to, and the settings that size its order: the
    subscription's, or (a UTM signal naming an account with no subscription) defaults."""

    account: BrokerAccount
    subscription: Subscription | None
    settings: Subscription

    @property
    def key(self) -> str:
        return str(self.subscription.pk) if self.subscription else f"account:{self.account.pk}"


# -- targets -----------------------------------------------------------------------------


def signal_targets(*, signal: Signal) -> list[Target]:
    if signal.account_id:
        return _account_target(signal)
    strategy_id = signal.strategy_id or _webhook_strategy_id(signal)
    if strategy_id is None:
        return []
    subscriptions = _FANOUT.all(organization_id=signal.organization_id, strategy_id=strategy_id)
    return [Target(account=s.account, subscription=s, settings=s) for s in subscriptions]


# Every signal's first read: compiled once per process (config.compiled).
_FANOUT = CompiledQuery(
    lambda organization_id, strategy_id: subscription_list_for_fanout(
        organization_id=organization_id, strategy_id=strategy_id
    ),
    organization_id=uuid.UUID,
    strategy_id=uuid.UUID,
)


def _webhook_strategy_id(signal: Signal):
    if signal.webhook_id is None:
        return None
    from webhooks.models import Webhook  # the one read "upwards": which strategy it feeds

    return (
        Webhook.objects.filter(pk=signal.webhook_id).values_list("strategy_id", flat=True).first()
    )


def _account_target(signal: Signal) -> list[Target]:
    account = (
        BrokerAccount.objects.for_org(signal.organization_id).filter(pk=signal.account_id).first()
    )
    if account is None:
        return []
    subscription = subscription_for_account(
        organization_id=signal.organization_id, strategy_id=signal.strategy_id, account=account
    )
    # An API caller names the account and usually the quantity: take the signal's quantity
    # and let a repeated openLong add, unless a subscription says otherwise.
    settings = subscription or Subscription(
        organization_id=signal.organization_id,
        account=account,
        use_signal_quantity=True,
        allow_add=True,
    )
    return [Target(account=account, subscription=subscription, settings=settings)]


INSTRUMENT_CACHE_SECONDS = 300


def instrument_for(run) -> tuple[str, Decimal | None]:
    """(asset class, quantity step) of the ticker. Cached: the ticker database changes a
    few times a day at most and every signal reads it."""
    strategy_class = run.signal.strategy.asset_class if run.signal.strategy_id else None
    raw = f"{run.intent.ticker}:{strategy_class}"
    key = "pipeline-instrument:" + hashlib.sha256(raw.encode()).hexdigest()[:32]
    try:
        cached = cache.get(key)
    except Exception:  # a cache outage must not stop trading
        cached = None
    if cached is None:
        found = instrument_find(symbol=run.intent.ticker, asset_class=strategy_class)
        step = str(found.quantity_step) if found else ""
        cached = (found.asset_class if found else strategy_class or "stock", step)
        try:
            cache.set(key, cached, INSTRUMENT_CACHE_SECONDS)
        except Exception:
            logger.warning("instrument cache unavailable")
    return cached[0], Decimal(cached[1]) if cached[1] else None
