"""What a signal would do in one account right now, without doing it.

The subscription page's preview ("what would a buy of 10 AAPL at 190 do?") goes through
the same code a real signal does: the TradersPost parser (with the ticker database check
the webhook makes, against the strategy's asset class), the pipeline's per-account
planning (``signals.pipeline.target_plan``: the account's status, its position read from
the broker, sizing, exit rules and bracket, ``max_position_size``, the column bounds), on
an unsaved Signal. Nothing is written: no Signal, no Order, no SignalResult, and the paper
market's price is not moved (a real signal's price would first fill the resting orders it
crosses, ``pipeline._record_price``; the preview says what the account holds now).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from decimal import Decimal

from brokers.adapters import get_adapter
from brokers.adapters.base import BrokerError, TransientBrokerError
from brokers.instruments import instrument_asset_classes
from signals.models import Signal, SignalResult
from signals.pipeline import Run, target_plan
from signals.targets import Target, instrument_for
from webhooks.traderspost import WebhookRejected, parse

# The preview's outcomes.
ORDERS, APPROVAL, IGNORED, FAILED, REFUSED, CANCEL = (
    "orders",
    "approval",
    "ignored",
    "failed",
    "refused",
    "cancel",
)


@dataclass(frozen=True)
class PreviewOrder:
    leg: str
    side: str
    quantity: Decimal
    symbol: str
    order_type: str
    time_in_force: str
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trail_amount: Decimal | None = None
    trail_percent: Decimal | None = None
    bracket: dict = field(default_factory=dict)  # take_profit_limit_price, ... as strings


@dataclass(frozen=True)
class Preview:
    outcome: str  # ORDERS / APPROVAL / IGNORED / FAILED / REFUSED / CANCEL
    reason: str = ""
    orders: tuple[PreviewOrder, ...] = ()
    position: Decimal | None = None  # signed; None when the broker could not be asked
    notes: tuple[str, ...] = ()
    approval_timeout_seconds: int | None = None

    @property
    def holding(self) -> str:
        """The position in words: "long 3", "short 2", "flat"."""
        if self.position is None:
            return ""
        if not self.position:
            return "flat"
        side = "long" if self.position > 0 else "short"
        return f"{side} {_plain(abs(self.position))}"


def _plain(value: Decimal) -> str:
    return f"{value.normalize():f}" if value != value.to_integral_value() else f"{value:.0f}"


def _check_ticker(asset_class: str, symbol: str) -> None:
    # The webhook's own check (webhooks.services._check_ticker) without a webhook: no
    # allowlist, the strategy's asset class.
    classes = instrument_asset_classes(symbol=symbol)
    if not classes:
        raise WebhookRejected("ticker-does-not-exist")
    if asset_class not in classes:
        raise WebhookRejected("invalid-asset-class")


def _body(ticker: str, action: str, quantity, price, sentiment: str | None) -> dict:
    body: dict = {"ticker": ticker, "action": action}
    if quantity is not None:
        body["quantity"] = str(quantity)
    if price is not None:
        body["price"] = str(price)
    if sentiment:
        body["sentiment"] = sentiment
    return body


def signal_preview(
    *,
    organization,
    strategy,
    account,
    settings,
    ticker: str,
    action: str,
    quantity: Decimal | None = None,
    price: Decimal | None = None,
    sentiment: str | None = None,
) -> Preview:
    """What a TradersPost signal (``ticker``, ``action``, ``quantity``, ``price``) to
    ``strategy`` would do in ``account`` with the subscription ``settings`` (saved or not):
    the orders it would place, or why it would be ignored, fail or be refused."""
    body = _body(ticker, action, quantity, price, sentiment)
    try:
        parsed = parse(body, check_ticker=functools.partial(_check_ticker, strategy.asset_class))
    except WebhookRejected as refused:
        return Preview(outcome=REFUSED, reason=f"{refused.code}: {refused.message}")
    intent = parsed.intent
    notes = _off_notes(strategy, settings)
    signal = Signal(
        organization_id=organization.pk,
        strategy=strategy,
        ticker=intent.ticker,
        action=intent.action,
        intent=intent.to_json(),
    )
    target = Target(account=account, subscription=settings, settings=settings)
    run = Run(signal=signal, intent=intent, targets=[target])
    position = _position(account, intent.ticker)
    try:
        outcome = target_plan(run=run, target=target, instrument=instrument_for(run))
    except TransientBrokerError as exc:
        return Preview(
            outcome=FAILED,
            reason=f"The broker could not be asked right now (a signal would be retried): {exc}",
            position=position,
            notes=notes,
        )
    if outcome is None:
        reason = f"It would cancel this account's open {intent.ticker} orders."
        return Preview(outcome=CANCEL, reason=reason, position=position, notes=notes)
    orders, result = outcome
    common = {"position": position, "notes": notes}
    if result.status == SignalResult.Status.IGNORED:
        return Preview(outcome=IGNORED, reason=result.reason, **common)
    if result.status == SignalResult.Status.FAILED:
        return Preview(outcome=FAILED, reason=result.reason, **common)
    brackets = (result.plan or {}).get("brackets", {})
    planned = tuple(_order(order, brackets.get(order.leg, {})) for order in orders)
    if result.status == SignalResult.Status.PENDING_APPROVAL:
        return Preview(
            outcome=APPROVAL,
            reason=result.reason,
            orders=planned,
            approval_timeout_seconds=settings.approval_timeout_seconds,
            **common,
        )
    return Preview(outcome=ORDERS, reason=result.reason, orders=planned, **common)


def _off_notes(strategy, settings) -> tuple[str, ...]:
    # The fan-out sends a signal only to enabled subscriptions of an enabled strategy.
    notes = []
    if not strategy.enabled:
        notes.append(f"Strategy {strategy.name} is disabled: a real signal reaches no account.")
    if not settings.enabled:
        notes.append("This subscription is off: a real signal would not reach this account.")
    return tuple(notes)


def _position(account, ticker: str) -> Decimal | None:
    try:
        position = get_adapter(account).get_position(ticker)
    except BrokerError:
        return None
    return position.quantity if position else Decimal("0")


def _order(order, bracket: dict) -> PreviewOrder:
    return PreviewOrder(
        leg=order.leg,
        side=order.side,
        quantity=order.quantity,
        symbol=order.symbol,
        order_type=order.order_type,
        time_in_force=order.time_in_force,
        limit_price=order.limit_price,
        stop_price=order.stop_price,
        trail_amount=order.trail_amount,
        trail_percent=order.trail_percent,
        bracket=bracket,
    )
