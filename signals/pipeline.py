"""From an accepted signal to orders: fan out, plan, persist, submit, record the outcome.

Exactly once, whatever the queue does (redelivery after a worker died, a retry, the sweep
enqueueing a signal twice):
- a signal is claimed by a conditional update, inside its lane (signals.lanes), so only
  one worker at a time works on an organization's ticker, in arrival order;
- phase 1 plans every account and persists all the orders (unique per signal x
  subscription x leg, deterministic client_order_id) with each account's SignalResult in
  one transaction: after a crash either all exist or none, and an account that has a
  result is never planned again;
- phase 2 hands the orders to execution.submission, which sends those still to send
  (SUBMITTING: committed as such in phase 1) with no transaction open; the adapter dedups
  on client_order_id, so an order sent just before a crash is recognised, not placed twice.
The signal's timings (received, planned, submitted, filled) are the ends of those phases.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.conf import settings as django_settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from brokers.adapters.base import BrokerAdapter, BrokerError, TransientBrokerError
from brokers.models import BrokerAccount, Order
from brokers.vocabulary import order_fields
from config import compiled
from execution.brokers import adapter_class_for, adapter_for, positions_read
from execution.orders import account_cancel_open_orders
from execution.outcomes import result_outcome, result_set
from execution.reconcile import order_settle
from execution.records import ERROR_MAX_CHARS, order_apply_update, order_end
from execution.submission import submit_all as _submit_all
from signals.faults import Interrupted, database_reset, is_transient
from signals.intent import SignalIntent
from signals.lanes import signal_lane
from signals.models import Signal, SignalResult
from signals.targets import Target, instrument_for, signal_targets
from strategies.planning import (
    Market,
    Plan,
    PlanError,
    needs_equity,
    plan_bounds_problem,
    plan_signal,
)

logger = logging.getLogger(__name__)

ACTIVE = (Signal.Status.PENDING, Signal.Status.PROCESSING)


def max_attempts() -> int:
    return getattr(django_settings, "SIGNAL_MAX_ATTEMPTS", 5)


@dataclass
class Run:
    """One attempt at one signal: its orders and results by account, as they now are."""

    signal: Signal
    intent: SignalIntent
    targets: list[Target]
    orders: dict = field(default_factory=dict)  # account id -> [Order] (top-level legs)
    results: dict = field(default_factory=dict)  # account id -> SignalResult
    transient: TransientBrokerError | None = None
    submitted_at: object = None


def client_order_id_for(*, signal_id, target_key: str, leg: str) -> str:
    """Deterministic, so a resubmission is recognised by the broker as the same order."""
    digest = hashlib.sha256(f"{signal_id}:{target_key}:{leg}".encode()).hexdigest()[:32]
    return f"tr-{digest}"


# -- entry point -------------------------------------------------------------------------


def signal_process(*, signal_id, refund: tuple | None = None) -> None:
    """Process ``signal_id`` and, first, every earlier unfinished signal of its lane.
    Raises TransientBrokerError when a broker asked us to come back later, Interrupted
    (or the fault itself, before any signal was claimed) on an infrastructure fault: the
    caller retries, nothing was ended. ``refund``: (signal id, attempt) an earlier try
    could not give back (signals.faults.Interrupted)."""
    if refund is not None:
        _refund(*refund)
    with signal_lane(signal_id=signal_id) as lane:
        if lane is None:
            return
        backlog = [lane.alone] if lane.alone else _backlog(lane, signal_id)
        for queued in backlog:
            # An earlier signal that must wait for its broker blocks the lane: later ones
            # must not overtake it (raises, and the task is retried with backoff).
            signal_run(signal=queued)


def _backlog(lane, signal_id) -> list[Signal]:
    backlog = (
        Signal.objects.filter(
            organization_id=lane.organization_id,
            # The log keeps the ticker as sent; the lane is case-blind like the lock.
            ticker__iexact=lane.ticker,
            status__in=ACTIVE,
        )
        .filter(Q(received_at__lt=lane.received_at) | Q(pk=signal_id))
        .select_related("strategy")
        .order_by("received_at", "id")
    )
    return list(backlog)


def _claim(signal: Signal) -> bool:
    # Inside the lane nobody else works on this signal, so PROCESSING here means a previous
    # run died or is being retried: it is ours to resume.
    now = timezone.now()
    claimed = compiled.update(
        Signal,
        where={"pk": signal.pk, "status": ACTIVE},
        status=Signal.Status.PROCESSING,
        processing_started_at=now,
        attempts=compiled.Increment(1),
    )
    if claimed:
        signal.status, signal.processing_started_at = Signal.Status.PROCESSING, now
        signal.attempts += 1
    return bool(claimed)


def signal_run(*, signal: Signal) -> None:
    """One signal, inside its lane."""
    # Read with the lane lock held: PROCESSING means an earlier run died or was interrupted
    # (its attempt given back to the count), so what it left must be picked up.
    resumed = signal.status == Signal.Status.PROCESSING
    if not _claim(signal):
        return
    if signal.attempts > max_attempts():
        # Every earlier attempt died mid-way (worker killed, out of memory, time limit):
        # stop the redelivery loop and say so.
        _signal_fail(
            signal,
            f"Gave up after {signal.attempts - 1} attempts: processing never finished "
            "(the worker died or ran out of time each time).",
        )
        return
    try:
        run = _run_start(signal, resumed=resumed)
        _record_price(run)
        _plan_all(run)
        _submit_all(run)
        if run.transient is not None and signal.attempts < max_attempts():
            _retrying(signal, run.transient)
            raise run.transient
        if run.transient is not None:
            _give_up(run)
        signal_finish(run=run)
    except TransientBrokerError:
        raise
    except Exception as exc:
        if is_transient(exc):
            # The database or Redis, not the signal: nothing is ended, and the orders
            # already planned are resubmitted by client order id when the task retries.
            raise _interrupted(signal, exc) from exc
        logger.exception("signal %s failed", signal.pk)
        _signal_fail(signal, f"Internal error: {exc.__class__.__name__}: {exc}")


def _interrupted(signal: Signal, exc: Exception) -> Interrupted:
    """Give the attempt back to the signal's count on a new session: SIGNAL_MAX_ATTEMPTS
    bounds attempts that died (the claim cannot tell those from a retry otherwise). If the
    database is still out of reach, the retried task gives it back (``refund``)."""
    logger.warning("signal %s interrupted by %s; retrying", signal.pk, exc.__class__.__name__)
    database_reset()
    try:
        _refund(signal.pk, signal.attempts)
    except Exception as again:
        if not is_transient(again):
            raise
        database_reset()
        return Interrupted(signal_id=signal.pk, attempt=signal.attempts, refunded=False)
    return Interrupted(signal_id=signal.pk, attempt=signal.attempts, refunded=True)


def _refund(signal_id, attempt: int) -> None:
    # Conditional: if another task has claimed the signal since, its count stands.
    compiled.update(
        Signal,
        where={"pk": signal_id, "status": Signal.Status.PROCESSING, "attempts": attempt},
        attempts=attempt - 1,
    )


def _run_start(signal: Signal, *, resumed: bool) -> Run:
    run = Run(
        signal=signal,
        intent=SignalIntent.from_json(signal.intent or {}),
        targets=signal_targets(signal=signal),
    )
    if resumed or signal.attempts > 1:  # a rerun: pick up what the earlier attempts left
        for order in Order.objects.filter(signal=signal, parent__isnull=True).order_by(
            "created_at"
        ):
            run.orders.setdefault(order.account_id, []).append(order)
        run.results = {r.account_id: r for r in SignalResult.objects.filter(signal=signal)}
    return run


def _mark(signal: Signal, **fields) -> None:
    for name, value in fields.items():
        setattr(signal, name, value)
    compiled.update(Signal, where={"pk": signal.pk}, **fields)


def _retrying(signal: Signal, exc: TransientBrokerError) -> None:
    _mark(
        signal,
        planned_at=signal.planned_at,
        error=f"Temporary broker error, retrying (attempt {signal.attempts} of "
        f"{max_attempts()}): {exc}"[:ERROR_MAX_CHARS],
    )


# -- phase 1: plan and persist ---------------------------------------------------------


def _record_price(run: Run) -> None:
    """The signal's price moves the paper market: resting orders it crosses fill now, and
    the plans below see the positions they leave. Each broker's market once per signal."""
    price = run.intent.reference_price
    if price is None:
        return
    seen = set()
    for target in run.targets:
        if target.account.broker in seen or target.account.pk in run.results:
            continue
        seen.add(target.account.broker)
        try:
            updates = adapter_for(target.account).record_price(run.intent.ticker, price)
        except BrokerError as exc:
            logger.warning("record_price failed for %s: %s", target.account.broker, exc)
            continue
        for update in updates:
            order_apply_update(update=update)


def _plan_all(run: Run) -> None:
    pending = [t for t in run.targets if t.account.pk not in run.results]
    if not pending:
        run.signal.planned_at = run.signal.planned_at or timezone.now()
        return
    instrument = instrument_for(run)
    positions = _positions(run, pending) if len(pending) > 1 else {}
    new_orders, new_results, cancels = [], [], []
    for target in pending:
        try:
            outcome = target_plan(
                run=run, target=target, instrument=instrument, positions=positions
            )
        except TransientBrokerError as exc:
            run.transient = exc
            continue
        if outcome is None:
            cancels.append(target)
            continue
        orders, result = outcome
        new_orders += orders
        new_results.append(result)
    with transaction.atomic():
        _create(Order, new_orders)
        _create(SignalResult, new_results)
    run.signal.planned_at = timezone.now()  # written with the outcome: one UPDATE less
    for order in new_orders:
        run.orders.setdefault(order.account_id, []).append(order)
    run.results.update({r.account_id: r for r in new_results})
    for target in cancels:
        _cancel(run, target)


def _create(model, rows: list) -> None:
    # One or two rows (a signal to a few accounts) by a statement built once; many (a
    # fan-out) in bulk.
    if len(rows) > 4:
        model.objects.bulk_create(rows)
        return
    for row in rows:
        compiled.insert(row)


def _positions(run: Run, targets: list[Target]) -> dict:
    """Every account's position, read per broker in one call where the broker can, else
    concurrently (execution.brokers.positions_read): a 1,000-account fan-out plans without
    1,000 round trips one after another."""
    by_broker: dict = {}
    for target in targets:
        if target.account.status == BrokerAccount.Status.ACTIVE:
            by_broker.setdefault(target.account.broker, []).append(target.account)
    positions: dict = {}
    for accounts in by_broker.values():
        adapter_class = adapter_class_for(accounts[0])
        if adapter_class is None:  # each account then fails on its own
            continue
        try:
            positions.update(positions_read(accounts, run.intent.ticker))
        except BrokerError:  # each account then asks on its own, and fails on its own
            continue
    return positions


def target_plan(*, run: Run, target: Target, instrument, positions=None):
    """One account's orders and result, unsaved; None for a cancel (done after the
    transaction). Raises only TransientBrokerError: the account's own problems become its
    failed result."""
    account, signal = target.account, run.signal
    if account.status != BrokerAccount.Status.ACTIVE:
        reason = f"account {account.name} is {account.status}"
        return [], _result(signal, target, SignalResult.Status.IGNORED, reason)
    try:
        adapter = adapter_for(account)
        market = _market(adapter, run.intent, target.settings, instrument, positions or {})
        plan = plan_signal(intent=run.intent, settings=target.settings, market=market)
    except TransientBrokerError:
        raise
    except BrokerError as exc:  # the account's broker refused or lacks an adapter
        result = _result(signal, target, SignalResult.Status.FAILED, str(exc))
        result.error_code = SignalResult.BROKER_ERROR
        return [], result
    except PlanError as exc:
        return [], _result(signal, target, SignalResult.Status.FAILED, str(exc))
    except Exception as exc:  # one account's surprise must not fail the others
        if is_transient(exc):  # a lost session is not the account's: retry the signal
            raise
        logger.exception("planning signal %s for account %s failed", signal.pk, account.pk)
        reason = f"Internal error: {exc.__class__.__name__}: {exc}"
        return [], _result(signal, target, SignalResult.Status.FAILED, reason)
    if plan.cancel:
        return None
    if plan.ignored:
        return [], _result(signal, target, SignalResult.Status.IGNORED, plan.ignored)
    return _orders_for(signal, target, plan, market)


def _market(
    adapter: BrokerAdapter, intent: SignalIntent, settings, instrument, positions: dict
) -> Market:
    asset_class, quantity_step = instrument
    account_id = adapter.account.pk
    if account_id in positions:
        position = positions[account_id]
    else:
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
        asset_class=asset_class,
        quantity_step=quantity_step,
    )


def _cancel(run: Run, target: Target) -> None:
    ticker = run.intent.ticker
    try:
        canceled = account_cancel_open_orders(account=target.account, symbol=ticker)
    except TransientBrokerError as exc:
        run.transient = exc
        return
    except BrokerError as exc:
        status, reason = SignalResult.Status.FAILED, str(exc)
    else:
        status, reason = (
            (SignalResult.Status.ORDERED, f"canceled {canceled} open order(s) in {ticker}")
            if canceled
            else (SignalResult.Status.IGNORED, f"no open orders in {ticker} to cancel")
        )
    result = _result(run.signal, target, status, reason)
    result.save()
    run.results[target.account.pk] = result


def _result(signal: Signal, target: Target, status: str, reason: str, plan: dict | None = None):
    return SignalResult(
        organization_id=signal.organization_id,
        signal=signal,
        subscription=target.subscription,
        account=target.account,
        status=status,
        reason=reason[:ERROR_MAX_CHARS],
        plan=plan or {},
    )


def _orders_for(signal: Signal, target: Target, plan: Plan, market: Market):
    # The one place plans become Order rows: a value the columns cannot hold ends the
    # account's result with its reason here, not the whole signal with a storage error.
    problem = plan_bounds_problem(legs=plan.legs, price=market.price, position=market.position)
    if problem is not None:
        return [], _result(signal, target, SignalResult.Status.FAILED, problem)
    approval = not target.settings.auto_submit
    expires = timezone.now() + timedelta(seconds=target.settings.approval_timeout_seconds)
    orders = [Order(**_order_fields(signal, target, leg, approval, expires)) for leg in plan.legs]
    status = SignalResult.Status.PENDING_APPROVAL if approval else SignalResult.Status.ORDERED
    plan_json = _plan_json(plan, market.price)
    return orders, _result(signal, target, status, _describe(plan), plan=plan_json)


def _order_fields(signal: Signal, target: Target, leg, approval: bool, expires) -> dict:
    return {
        "organization_id": signal.organization_id,
        "account": target.account,
        "signal": signal,
        "subscription": target.subscription,
        "leg": leg.leg,
        **order_fields(leg),
        "client_order_id": client_order_id_for(
            signal_id=signal.pk, target_key=target.key, leg=leg.leg
        ),
        # Committed with the plan, before any broker call: "about to submit".
        "status": Order.Status.PENDING_APPROVAL if approval else Order.Status.SUBMITTING,
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


# -- outcome -------------------------------------------------------------------------------


def _give_up(run: Run) -> None:
    error = f"Broker unavailable after {run.signal.attempts} attempts: {run.transient}"
    for orders in run.orders.values():
        for order in orders:
            if order.status == Order.Status.NEW:
                order_end(order, Order.Status.FAILED, error)
            elif order.status == Order.Status.SUBMITTING:
                # It may be at the broker (a timeout): asked, never guessed.
                order_settle(order, missing=error)
    for target in run.targets:
        if target.account.pk not in run.results:
            result = _result(run.signal, target, SignalResult.Status.FAILED, error)
            result.save()
            run.results[target.account.pk] = result


def signal_finish(*, run: Run) -> None:
    changed = [
        r
        for account_id, r in run.results.items()
        if result_set(r, *result_outcome(run.orders.get(account_id, []), r))
    ]
    SignalResult.objects.bulk_update(changed, ["status", "reason"])
    failed = [r for r in run.results.values() if r.status == SignalResult.Status.FAILED]
    names = {t.account.pk: t.account.name for t in run.targets}
    error = "; ".join(f"{names.get(r.account_id, r.account_id)}: {r.reason}" for r in failed)
    if not run.targets:
        error = "No enabled subscription: no account received this signal."
    fills = [
        o.filled_at
        for orders in run.orders.values()
        for o in orders
        if o.status == Order.Status.FILLED and o.filled_at
    ]
    _mark(
        run.signal,
        status=Signal.Status.FAILED if failed else Signal.Status.COMPLETED,
        error=error[:ERROR_MAX_CHARS],
        planned_at=run.signal.planned_at,
        submitted_at=run.submitted_at or run.signal.submitted_at,
        filled_at=max(fills) if fills else run.signal.filled_at,
        completed_at=timezone.now(),
    )


def _signal_fail(signal: Signal, error: str) -> None:
    # A SUBMITTING order may have reached its broker: reconciliation asks before ending it.
    for order in Order.objects.filter(signal=signal, status=Order.Status.NEW):
        order_end(order, Order.Status.FAILED, error)
    _mark(
        signal,
        status=Signal.Status.FAILED,
        error=error[:ERROR_MAX_CHARS],
        completed_at=timezone.now(),
    )


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
