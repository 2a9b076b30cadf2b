"""From an accepted signal to orders: fan out, plan, persist, submit, record the outcome.

Exactly once, whatever the queue does (redelivery after a worker died, a retry, the sweep
enqueueing a signal twice):
- a signal is claimed by a conditional update, inside its lane (signals.lanes), so only
  one worker at a time works on an organization's ticker, in arrival order;
- planning and persisting happen per account in one transaction that writes the orders
  (unique per signal x subscription x leg, deterministic client_order_id) together with
  the account's SignalResult; an account that has a result is never planned again;
- submission walks the signal's orders still NEW; the adapter dedups on client_order_id,
  so an order sent just before a crash is recognised, not placed twice.
Phase 1 plans every account, phase 2 submits: the signal's timings (planned, submitted,
filled) mean what they say.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict, dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings as django_settings
from django.db import transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from brokers.adapters import get_adapter
from brokers.adapters.base import (
    BracketSpec,
    BrokerAdapter,
    BrokerError,
    OrderRequest,
    TransientBrokerError,
)
from brokers.models import BrokerAccount, Order
from brokers.services import account_cancel_open_orders, order_apply_update
from signals.intent import SignalIntent
from signals.lanes import lane_lock
from signals.models import Signal, SignalResult
from strategies.models import Strategy, Subscription
from strategies.planning import Market, Plan, PlanError, needs_equity, plan_signal
from strategies.selectors import (
    instrument_find,
    subscription_for_account,
    subscription_list_for_fanout,
)

logger = logging.getLogger(__name__)

ACTIVE = (Signal.Status.PENDING, Signal.Status.PROCESSING)
LEG_ORDER = {Order.Leg.EXIT: 0, Order.Leg.ENTRY: 1}
ERROR_MAX_CHARS = 2000


def max_attempts() -> int:
    return getattr(django_settings, "SIGNAL_MAX_ATTEMPTS", 5)


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


def client_order_id_for(*, signal_id, target_key: str, leg: str) -> str:
    """Deterministic, so a resubmission is recognised by the broker as the same order."""
    digest = hashlib.sha256(f"{signal_id}:{target_key}:{leg}".encode()).hexdigest()[:32]
    return f"tr-{digest}"


# -- entry point -------------------------------------------------------------------------


def signal_process(*, signal_id) -> None:
    """Process ``signal_id`` and, first, every earlier unfinished signal of its lane.
    Raises TransientBrokerError when a broker asked us to come back later."""
    signal = Signal.objects.filter(pk=signal_id).first()
    if signal is None or signal.status not in ACTIVE:
        return
    with lane_lock(organization_id=signal.organization_id, ticker=signal.ticker):
        backlog = (
            Signal.objects.filter(
                organization_id=signal.organization_id,
                # The log keeps the ticker as sent; the lane is case-blind like the lock.
                ticker__iexact=signal.ticker,
                status__in=ACTIVE,
            )
            .filter(Q(received_at__lt=signal.received_at) | Q(pk=signal.pk))
            .order_by("received_at", "id")
            .values_list("pk", flat=True)
        )
        for queued_id in list(backlog):
            # An earlier signal that must wait for its broker blocks the lane: later ones
            # must not overtake it (raises, and the task is retried with backoff).
            signal_run(signal_id=queued_id)


def _claim(signal_id) -> Signal | None:
    # Inside the lane nobody else works on this signal, so PROCESSING here means a previous
    # run died or is being retried: it is ours to resume.
    claimed = Signal.objects.filter(pk=signal_id, status__in=ACTIVE).update(
        status=Signal.Status.PROCESSING,
        processing_started_at=timezone.now(),
        attempts=F("attempts") + 1,
    )
    return Signal.objects.select_related("organization").get(pk=signal_id) if claimed else None


def signal_run(*, signal_id) -> None:
    """One signal, inside its lane."""
    signal = _claim(signal_id)
    if signal is None:
        return
    try:
        intent = SignalIntent.from_json(signal.intent or {})
        targets = signal_targets(signal=signal)
        transient = _plan_all(signal, intent, targets)
        _mark(signal, planned_at=timezone.now())
        transient = _submit_all(signal, intent, targets) or transient
        if transient is not None and signal.attempts < max_attempts():
            _retrying(signal, transient)
            raise transient
        if transient is not None:
            _give_up(signal, targets, transient)
        signal_finish(signal=signal, targets=targets)
    except TransientBrokerError:
        raise
    except Exception as exc:
        logger.exception("signal %s failed", signal.pk)
        _signal_fail(signal, f"Internal error: {exc.__class__.__name__}: {exc}")


def _mark(signal: Signal, **fields) -> None:
    for name, value in fields.items():
        setattr(signal, name, value)
    Signal.objects.filter(pk=signal.pk).update(**fields)


def _retrying(signal: Signal, exc: TransientBrokerError) -> None:
    _mark(
        signal,
        error=f"Temporary broker error, retrying (attempt {signal.attempts} of "
        f"{max_attempts()}): {exc}"[:ERROR_MAX_CHARS],
    )


# -- targets -----------------------------------------------------------------------------


def signal_targets(*, signal: Signal) -> list[Target]:
    if signal.account_id:
        return _account_target(signal)
    strategy_id = signal.strategy_id or _webhook_strategy_id(signal)
    if strategy_id is None:
        return []
    subscriptions = subscription_list_for_fanout(
        organization_id=signal.organization_id, strategy_id=strategy_id
    )
    return [Target(account=s.account, subscription=s, settings=s) for s in subscriptions]


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


# -- phase 1: plan and persist ---------------------------------------------------------


def _plan_all(signal: Signal, intent: SignalIntent, targets: list[Target]):
    done = set(SignalResult.objects.filter(signal=signal).values_list("account_id", flat=True))
    pending = [t for t in targets if t.account.pk not in done]
    transient = None
    if pending:
        _record_price(intent, pending)
    instrument = instrument_find(symbol=intent.ticker, asset_class=_asset_class(signal))
    for target in pending:
        try:
            target_plan(signal=signal, intent=intent, target=target, instrument=instrument)
        except TransientBrokerError as exc:
            transient = exc
    return transient


def _asset_class(signal: Signal) -> str | None:
    if signal.strategy_id:
        return (
            Strategy.objects.filter(pk=signal.strategy_id)
            .values_list("asset_class", flat=True)
            .first()
        )
    return None


def _record_price(intent: SignalIntent, targets: list[Target]) -> None:
    """The signal's price moves the paper market: resting orders it crosses fill now, and
    the plan below sees the position they leave. Each broker's market once per signal."""
    price = intent.reference_price
    if price is None:
        return
    seen = set()
    for target in targets:
        if target.account.broker in seen:
            continue
        seen.add(target.account.broker)
        try:
            updates = get_adapter(target.account).record_price(intent.ticker, price)
        except BrokerError as exc:
            logger.warning("record_price failed for %s: %s", target.account.broker, exc)
            continue
        for update in updates:
            order_apply_update(update=update)


def target_plan(*, signal: Signal, intent: SignalIntent, target: Target, instrument) -> None:
    """Plan one account and persist the result; never raises for that account's own
    problems (they become its failed result), only TransientBrokerError."""
    account = target.account
    if account.status != BrokerAccount.Status.ACTIVE:
        _result(
            signal,
            target,
            SignalResult.Status.IGNORED,
            f"account {account.name} is {account.status}",
        )
        return
    try:
        adapter = get_adapter(account)
        market = _market(adapter, intent, target.settings, instrument)
        plan = plan_signal(intent=intent, settings=target.settings, market=market)
        if plan.cancel:
            _cancel(signal, intent, target)
            return
    except TransientBrokerError:
        raise
    except (BrokerError, PlanError) as exc:
        _result(signal, target, SignalResult.Status.FAILED, str(exc))
        return
    if plan.ignored:
        _result(signal, target, SignalResult.Status.IGNORED, plan.ignored)
        return
    orders_persist(signal=signal, target=target, plan=plan, reference_price=market.price)


def _market(adapter: BrokerAdapter, intent: SignalIntent, settings, instrument) -> Market:
    position = adapter.get_position(intent.ticker)
    price = intent.reference_price
    if price is None:
        quote = adapter.get_quote(intent.ticker)
        price = quote and (quote.last or quote.mid)
    equity = None
    if needs_equity(intent=intent, settings=settings):
        equity = adapter.get_account().equity
    return Market(
        position=position.quantity if position else Decimal("0"),
        price=price,
        equity=equity,
        asset_class=instrument.asset_class if instrument else "stock",
        quantity_step=instrument.quantity_step if instrument else None,
    )


def _cancel(signal: Signal, intent: SignalIntent, target: Target) -> None:
    canceled = account_cancel_open_orders(account=target.account, symbol=intent.ticker)
    if canceled:
        _result(
            signal,
            target,
            SignalResult.Status.ORDERED,
            f"canceled {canceled} open order(s) in {intent.ticker}",
        )
    else:
        _result(
            signal,
            target,
            SignalResult.Status.IGNORED,
            f"no open orders in {intent.ticker} to cancel",
        )


def _result(signal: Signal, target: Target, status: str, reason: str, plan: dict | None = None):
    return SignalResult.objects.create(
        organization_id=signal.organization_id,
        signal=signal,
        subscription=target.subscription,
        account=target.account,
        status=status,
        reason=reason[:ERROR_MAX_CHARS],
        plan=plan or {},
    )


def orders_persist(*, signal: Signal, target: Target, plan: Plan, reference_price) -> list[Order]:
    """The plan's orders and the account's result, in one transaction: after a crash either
    both exist (submit what is still NEW) or neither (plan again)."""
    approval = not target.settings.auto_submit
    expires = timezone.now() + timedelta(seconds=target.settings.approval_timeout_seconds)
    with transaction.atomic():
        orders = [
            Order.objects.create(**_order_fields(signal, target, leg, approval, expires))
            for leg in plan.legs
        ]
        _result(
            signal,
            target,
            SignalResult.Status.PENDING_APPROVAL if approval else SignalResult.Status.ORDERED,
            _describe(plan),
            plan=_plan_json(plan, reference_price),
        )
    return orders


def _order_fields(signal: Signal, target: Target, leg, approval: bool, expires) -> dict:
    return {
        "organization_id": signal.organization_id,
        "account": target.account,
        "signal": signal,
        "subscription": target.subscription,
        "leg": leg.leg,
        "symbol": leg.symbol,
        "side": leg.side,
        "quantity": leg.quantity,
        "order_type": leg.order_type,
        "limit_price": leg.limit_price,
        "stop_price": leg.stop_price,
        "trail_amount": leg.trail_amount,
        "trail_percent": leg.trail_percent,
        "time_in_force": leg.time_in_force,
        "extended_hours": leg.extended_hours,
        "client_order_id": client_order_id_for(
            signal_id=signal.pk, target_key=target.key, leg=leg.leg
        ),
        "status": Order.Status.PENDING_APPROVAL if approval else Order.Status.NEW,
        "approval_expires_at": expires if approval else None,
    }


def _describe(plan: Plan) -> str:
    parts = [f"{leg.side} {leg.quantity:f} ({leg.leg})" for leg in plan.legs]
    return "; ".join(parts + list(plan.notes))


def _plan_json(plan: Plan, reference_price) -> dict:
    brackets = {
        leg.leg: {k: str(v) for k, v in asdict(leg.bracket).items() if v is not None}
        for leg in plan.legs
        if leg.bracket is not None
    }
    out: dict = {"brackets": brackets}
    if reference_price is not None:
        out["reference_price"] = str(reference_price)
    return out


# -- phase 2: submit ---------------------------------------------------------------------


def _submit_all(signal: Signal, intent: SignalIntent, targets: list[Target]):
    orders = list(
        Order.objects.filter(
            signal=signal, status=Order.Status.NEW, parent__isnull=True
        ).select_related("account")
    )
    if not orders:
        return None
    orders.sort(key=lambda o: (str(o.account_id), LEG_ORDER.get(o.leg, 9)))
    plans = {
        r.account_id: r.plan
        for r in SignalResult.objects.filter(
            signal=signal, account_id__in={o.account_id for o in orders}
        )
    }
    transient = None
    by_account: dict = {}
    for order in orders:
        by_account.setdefault(order.account_id, []).append(order)
    for account_orders in by_account.values():
        try:
            orders_submit(orders=account_orders, plan=plans.get(account_orders[0].account_id, {}))
        except TransientBrokerError as exc:
            transient = exc
    _mark(signal, submitted_at=timezone.now())
    return transient


def orders_submit(*, orders: list[Order], plan: dict) -> None:
    """Submit one account's orders of one signal, exits first. A failed exit stops the
    entry behind it: a reversal must never open the new side on top of the old one."""
    adapter = get_adapter(orders[0].account)
    for index, order in enumerate(orders):
        try:
            if order.leg == Order.Leg.EXIT:
                # Resting bracket legs of the position being closed must not fill later.
                account_cancel_open_orders(account=order.account, symbol=order.symbol)
            # Stamped before the call: "sent" is what the timing means, and a crash right
            # after it still shows the order went out.
            Order.objects.filter(pk=order.pk, submitted_at__isnull=True).update(
                submitted_at=timezone.now()
            )
            update = adapter.submit_order(_request(order, plan))
            order_apply_update(update=update, account=order.account)
        except TransientBrokerError as exc:
            _order_note(order, f"Temporary broker error, will retry: {exc}")
            raise
        except BrokerError as exc:
            _order_end(order, Order.Status.FAILED, str(exc))
            for later in orders[index + 1 :]:
                _order_end(
                    later, Order.Status.FAILED, f"Not sent: the {order.leg} order before it failed."
                )
            return


def _request(order: Order, plan: dict) -> OrderRequest:
    bracket = plan.get("brackets", {}).get(order.leg)
    reference = plan.get("reference_price")
    return OrderRequest(
        client_order_id=order.client_order_id,
        symbol=order.symbol,
        side=order.side,
        quantity=order.quantity,
        order_type=order.order_type,
        time_in_force=order.time_in_force,
        limit_price=order.limit_price,
        stop_price=order.stop_price,
        trail_amount=order.trail_amount,
        trail_percent=order.trail_percent,
        extended_hours=order.extended_hours,
        reference_price=Decimal(reference) if reference else None,
        bracket=BracketSpec(**{k: Decimal(v) for k, v in bracket.items()}) if bracket else None,
    )


def _order_note(order: Order, error: str) -> None:
    Order.objects.filter(pk=order.pk).update(
        error=error[:ERROR_MAX_CHARS], updated_at=timezone.now()
    )


def _order_end(order: Order, status: str, error: str, only_from=(Order.Status.NEW,)) -> bool:
    return bool(
        Order.objects.filter(pk=order.pk, status__in=only_from).update(
            status=status, error=error[:ERROR_MAX_CHARS], updated_at=timezone.now()
        )
    )


# -- outcome -------------------------------------------------------------------------------


def _give_up(signal: Signal, targets: list[Target], exc: TransientBrokerError) -> None:
    error = f"Broker unavailable after {signal.attempts} attempts: {exc}"
    for order in Order.objects.filter(signal=signal, status=Order.Status.NEW):
        _order_end(order, Order.Status.FAILED, error)
    done = set(SignalResult.objects.filter(signal=signal).values_list("account_id", flat=True))
    for target in targets:
        if target.account.pk not in done:
            _result(signal, target, SignalResult.Status.FAILED, error)


def result_refresh(*, signal: Signal, account_id) -> SignalResult | None:
    """Bring an account's result in line with its orders (after submission, approval,
    rejection or expiry)."""
    result = SignalResult.objects.filter(signal=signal, account_id=account_id).first()
    orders = list(Order.objects.filter(signal=signal, account_id=account_id, parent__isnull=True))
    if result is None or not orders:
        return result
    statuses = {o.status for o in orders}
    errors = "; ".join(f"{o.leg}: {o.error}" for o in orders if o.error)
    if statuses & {Order.Status.FAILED, Order.Status.REJECTED}:
        status, reason = SignalResult.Status.FAILED, errors
    elif Order.Status.PENDING_APPROVAL in statuses:
        status, reason = SignalResult.Status.PENDING_APPROVAL, result.reason
    elif statuses <= {Order.Status.CANCELED, Order.Status.EXPIRED}:
        status, reason = SignalResult.Status.IGNORED, errors
    else:
        status, reason = SignalResult.Status.ORDERED, result.reason
    if (status, reason) != (result.status, result.reason):
        result.status, result.reason = status, reason[:ERROR_MAX_CHARS]
        result.save(update_fields=["status", "reason", "updated_at"])
    return result


def signal_finish(*, signal: Signal, targets: list[Target]) -> None:
    for account_id in {t.account.pk for t in targets}:
        result_refresh(signal=signal, account_id=account_id)
    results = list(SignalResult.objects.filter(signal=signal).select_related("account"))
    failed = [r for r in results if r.status == SignalResult.Status.FAILED]
    error = "; ".join(f"{r.account.name}: {r.reason}" for r in failed)
    if not targets:
        error = "No enabled subscription: no account received this signal."
    filled_at = (
        Order.objects.filter(signal=signal, parent__isnull=True, status=Order.Status.FILLED)
        .aggregate(last=Max("filled_at"))
        .get("last")
    )
    _mark(
        signal,
        status=Signal.Status.FAILED if failed else Signal.Status.COMPLETED,
        error=error[:ERROR_MAX_CHARS],
        filled_at=filled_at,
        completed_at=timezone.now(),
    )


def _signal_fail(signal: Signal, error: str) -> None:
    for order in Order.objects.filter(signal=signal, status=Order.Status.NEW):
        _order_end(order, Order.Status.FAILED, error)
    _mark(
        signal,
        status=Signal.Status.FAILED,
        error=error[:ERROR_MAX_CHARS],
        completed_at=timezone.now(),
    )


# -- manual approval -------------------------------------------------------------------------


class OrderNotPending(Exception):
    """The order is not (or no longer) waiting for approval."""


def order_approve(*, organization, order_id, user=None) -> list[Order]:
    """Approve a pending order and the other pending orders of the same signal for the same
    account (the exit and entry of one reversal are one decision), then submit them, inside
    the ticker's lane. Another tenant's order raises Order.DoesNotExist (a 404)."""
    order = Order.objects.for_org(organization).get(pk=order_id)
    with lane_lock(organization_id=organization.pk, ticker=order.symbol):
        siblings = _pending_siblings(order)
        now = timezone.now()
        live = [o for o in siblings if o.approval_expires_at is None or o.approval_expires_at > now]
        if not live:
            raise OrderNotPending(_not_pending_message(order))
        claimed = [
            o for o in live if _order_end(o, Order.Status.NEW, "", (Order.Status.PENDING_APPROVAL,))
        ]
        for o in claimed:
            o.status = Order.Status.NEW
        claimed.sort(key=lambda o: LEG_ORDER.get(o.leg, 9))
        result = SignalResult.objects.filter(
            signal_id=order.signal_id, account_id=order.account_id
        ).first()
        if claimed:
            orders_submit(orders=claimed, plan=result.plan if result else {})
        if order.signal_id:
            result_refresh(signal=order.signal, account_id=order.account_id)
    for approved in claimed:
        approved.refresh_from_db()
    return claimed


def order_reject(*, organization, order_id, user=None) -> list[Order]:
    order = Order.objects.for_org(organization).get(pk=order_id)
    who = f" by {user.email}" if user is not None else ""
    rejected = [
        o
        for o in _pending_siblings(order)
        if _order_end(o, Order.Status.CANCELED, f"Rejected{who}.", (Order.Status.PENDING_APPROVAL,))
    ]
    if not rejected:
        raise OrderNotPending(_not_pending_message(order))
    if order.signal_id:
        result_refresh(signal=order.signal, account_id=order.account_id)
    for canceled in rejected:
        canceled.refresh_from_db()
    return rejected


def order_expire_approvals(*, now=None) -> int:
    """End the pending orders whose approval window has passed."""
    now = now or timezone.now()
    expired = list(
        Order.objects.filter(
            status=Order.Status.PENDING_APPROVAL, approval_expires_at__lte=now
        ).select_related("signal")[:1000]
    )
    count = 0
    for order in expired:
        if _order_end(
            order, Order.Status.EXPIRED, "Not approved in time.", (Order.Status.PENDING_APPROVAL,)
        ):
            count += 1
            if order.signal_id:
                result_refresh(signal=order.signal, account_id=order.account_id)
    return count


def _pending_siblings(order: Order) -> list[Order]:
    if order.signal_id is None:
        return [order] if order.status == Order.Status.PENDING_APPROVAL else []
    return list(
        Order.objects.filter(
            signal_id=order.signal_id,
            account_id=order.account_id,
            parent__isnull=True,
            status=Order.Status.PENDING_APPROVAL,
        ).select_related("account")
    )


def _not_pending_message(order: Order) -> str:
    order.refresh_from_db(fields=["status"])
    if order.status == Order.Status.PENDING_APPROVAL:
        return "The approval window of this order has passed."
    return f"This order is not waiting for approval (it is {order.get_status_display().lower()})."


# -- sweep -------------------------------------------------------------------------------------


def signal_sweep(*, now=None, limit: int = 500) -> list:
    """Accepted signals whose task never ran (Redis was down when they came) or whose worker
    died mid-way: the ids to enqueue again. Re-enqueueing is safe (exactly once above)."""
    now = now or timezone.now()
    pending_after = getattr(django_settings, "SIGNAL_SWEEP_PENDING_SECONDS", 30)
    stuck_after = getattr(django_settings, "CELERY_TASK_TIME_LIMIT", 90) + 30
    stale = Signal.objects.filter(
        Q(status=Signal.Status.PENDING, received_at__lt=now - timedelta(seconds=pending_after))
        | Q(
            status=Signal.Status.PROCESSING,
            processing_started_at__lt=now - timedelta(seconds=stuck_after),
        )
    )
    return list(stale.order_by("received_at").values_list("pk", flat=True)[:limit])
