from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from signals.intent import SignalIntent
from signals.models import Signal


class SignalFactory(factory.django.DjangoModelFactory):
    """An accepted signal as the ingestion leaves it (PENDING, intent stored). Pass the
    intent's fields as ``intent__<name>`` or build it with ``signal_for``."""

    class Meta:
        model = Signal

    organization = factory.SelfAttribute("strategy.organization")
    dialect = Signal.Dialect.TRADERSPOST
    strategy = None
    ticker = "AAPL"
    action = "buy"
    status = Signal.Status.PENDING


_clock = {"now": None}


def signal_for(*, strategy=None, account=None, organization=None, **intent_fields) -> Signal:
    """A PENDING signal for ``strategy`` (or naming ``account``, UTM style); received
    strictly after the previous one, so arrival order is unambiguous."""
    now = timezone.now()
    if _clock["now"] is not None and now <= _clock["now"]:
        now = _clock["now"] + timedelta(microseconds=1)
    _clock["now"] = now
    intent_fields.setdefault("ticker", "AAPL")
    for name in ("price", "quantity", "limit_price", "stop_price"):
        if intent_fields.get(name) is not None:
            intent_fields[name] = Decimal(str(intent_fields[name]))
    intent = SignalIntent(**intent_fields)
    org = organization or (strategy.organization if strategy else account.organization)
    return SignalFactory(
        organization=org,
        strategy=strategy,
        account=account,
        dialect=Signal.Dialect.UTM if account else Signal.Dialect.TRADERSPOST,
        ticker=intent.ticker,
        action=intent.action,
        intent=intent.to_json(),
        received_at=now,
    )
