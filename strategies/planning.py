"""The decision table: what one signal means for one subscription, given the account's
current position in the ticker. Pure functions (no database, no broker): the pipeline
reads the position, price and equity, calls ``plan_signal`` and persists what it returns.

Rules (both dialects; the full table is tests/strategies/test_planning.py):
- buy / sell close the opposite side in full, then open their own side where the
  subscription allows it (otherwise they only exit). Already on that side: add when
  ``allow_add`` is on, else ignored ("already long and adding is off").
- sentiment flat exits the whole position, whatever its side, and opens nothing.
- buy+bearish / sell+bullish reduce a short / long by ``exit_percent_of_position`` (or the
  signal's percent_of_position quantity), leaving the position on its side.
- exit closes whatever is open; cancel cancels the ticker's open orders.
- add is explicit: it adds on the open side even with ``allow_add`` off (that setting governs
  a repeated buy/sell); add with no position is ignored.
- UTM: open_long/open_short open (or add, like a repeated buy) but never close the other
  side; close_long/close_short close only their side; reverse_to_long/short are buy/sell.
- max_position_size caps entries: an entry is reduced to the room left, and ignored when
  there is none (an exit in the same plan still happens).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from brokers.adapters.base import BracketSpec, NoPriceAvailable
from brokers.quantity import quantity_round
from signals.bounds import exceeds
from signals.intent import ExitRule, SignalIntent

ZERO = Decimal("0")
HUNDRED = Decimal("100")

# Exit kinds: ALL is forced full (flat, reversal); CLOSE is full unless the signal gives a
# quantity; PARTIAL uses the subscription's (or the signal's) percent of position.
ALL, CLOSE, PARTIAL = "all", "close", "partial"


class PlanError(Exception):
    """The signal cannot be turned into an order for this account; the text is shown."""


@dataclass(frozen=True)
class Decision:
    exit: str | None = None  # ALL / CLOSE / PARTIAL
    open_side: str | None = None  # long / short
    add: bool = False
    cancel: bool = False
    ignored: str = ""


@dataclass(frozen=True)
class PlannedLeg:
    leg: str  # entry / exit (Order.Leg)
    side: str  # buy / sell
    quantity: Decimal
    symbol: str = ""
    order_type: str = "market"
    time_in_force: str = "day"
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trail_amount: Decimal | None = None
    trail_percent: Decimal | None = None
    extended_hours: bool = False
    bracket: BracketSpec | None = None


@dataclass(frozen=True)
class Plan:
    legs: tuple[PlannedLeg, ...] = ()
    cancel: bool = False
    ignored: str = ""
    notes: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class Market:
    """What the pipeline read from the broker for this account and ticker."""

    position: Decimal = ZERO  # signed: negative when short
    price: Decimal | None = None
    equity: Decimal | None = None
    asset_class: str = "stock"
    quantity_step: Decimal | None = None


def _side_of(position: Decimal) -> str | None:
    return "long" if position > 0 else "short" if position < 0 else None


def _opposite(side: str) -> str:
    return "short" if side == "long" else "long"


def _allowed(allowed_sides: str, side: str) -> bool:
    return allowed_sides in ("both", side)


def _open_or_add(own: str, held: str | None, allowed_sides: str, allow_add: bool) -> Decision:
    if not _allowed(allowed_sides, own):
        return Decision(ignored=f"{own} entries are off for this subscription")
    if held == own:
        if allow_add:
            return Decision(open_side=own, add=True)
        return Decision(ignored=f"already {own} and adding is off")
    return Decision(open_side=own)


def _buy_or_sell(own: str, sentiment, held, allowed_sides, allow_add) -> Decision:
    other = _opposite(own)
    if sentiment == "flat":
        return Decision(exit=ALL) if held else Decision(ignored="no position to exit")
    if sentiment == ("bearish" if own == "long" else "bullish"):
        if held == other:
            return Decision(exit=PARTIAL)
        if held is None:
            return Decision(ignored="no position to exit")
        return Decision(ignored=f"a partial exit reduces a {other} position; the position is {own}")
    if held == other:
        opening = _allowed(allowed_sides, own)
        return Decision(exit=ALL, open_side=own if opening else None)
    return _open_or_add(own, held, allowed_sides, allow_add)


def decide(
    *, action: str, sentiment: str | None, position: Decimal, allowed_sides: str, allow_add: bool
) -> Decision:
    held = _side_of(position)
    if action == "cancel":
        return Decision(cancel=True)
    if action in ("buy", "reverse_to_long", "sell", "reverse_to_short"):
        own = "long" if action in ("buy", "reverse_to_long") else "short"
        if action.startswith("reverse") and held == own:
            return Decision(ignored=f"already {own}: nothing to reverse")
        return _buy_or_sell(own, sentiment, held, allowed_sides, allow_add)
    if action == "exit":
        return Decision(exit=CLOSE) if held else Decision(ignored="no position to exit")
    if action == "add":
        return (
            Decision(open_side=held, add=True)
            if held
            else Decision(ignored="no position to add to")
        )
    if action in ("open_long", "open_short"):
        own = action.removeprefix("open_")
        if held == _opposite(own):
            name, verb = (
                ("openLong", "reverseToLong") if own == "long" else ("openShort", "reverseToShort")
            )
            return Decision(ignored=f"position is {held}: {name} does not close it; send {verb}")
        return _open_or_add(own, held, allowed_sides, allow_add)
    if action in ("close_long", "close_short"):
        own = action.removeprefix("close_")
        return (
            Decision(exit=CLOSE) if held == own else Decision(ignored=f"no {own} position to close")
        )
    raise PlanError(f"unknown action {action!r}")


def _round(quantity: Decimal, market: Market, fractional: bool) -> Decimal:
    # Sizing can compute more than a column holds ($1e11 at $1e-8); rounding it to the
    # step could even need more digits than Decimal keeps. Say so as the account's reason.
    if problem := exceeds(quantity, field="quantity", what="order quantity"):
        raise PlanError(problem)
    return quantity_round(
        quantity=quantity,
        asset_class=market.asset_class,
        step=market.quantity_step,
        fractional=fractional,
    )


def _signal_quantity(intent: SignalIntent, settings) -> tuple[Decimal, str] | None:
    if settings.use_signal_quantity and intent.quantity is not None:
        value = intent.quantity * settings.signal_quantity_multiplier
        return value, intent.quantity_type or "fixed_quantity"
    return None


def _plain(value: Decimal) -> Decimal:
    # 20.00000000 read back from the database is 20 to a person and to a broker.
    return value.quantize(Decimal("1")) if value == value.to_integral_value() else value.normalize()


def exit_quantity(*, kind: str, intent: SignalIntent, settings, market: Market) -> Decimal:
    held = _plain(abs(market.position))
    if kind == ALL:
        return held
    signalled = _signal_quantity(intent, settings)
    if signalled and signalled[1] == "percent_of_position":
        raw = held * signalled[0] / HUNDRED
    elif signalled and signalled[1] == "fixed_quantity":
        raw = signalled[0]
    elif kind == PARTIAL:
        raw = held * settings.exit_percent_of_position / HUNDRED
    else:
        return held
    return min(held, _round(raw, market, settings.fractional))


def _needs_price(price: Decimal | None, symbol: str) -> Decimal:
    if price is None or price <= 0:
        raise NoPriceAvailable(symbol)
    return price


def entry_quantity(
    *, intent: SignalIntent, settings, market: Market, stop_distance: Decimal | None
) -> Decimal:
    value, method = _signal_quantity(intent, settings) or (
        settings.sizing_value,
        settings.sizing_method,
    )
    if method == "fixed_quantity":
        raw = value
    elif method == "dollar_amount":
        raw = value / _needs_price(market.price, intent.ticker)
    elif method == "percent_of_equity":
        if market.equity is None:
            raise PlanError("percent of equity sizing needs the account's equity")
        raw = market.equity * value / HUNDRED / _needs_price(market.price, intent.ticker)
    elif method == "risk_dollar_amount":
        if not stop_distance:
            raise PlanError("risk dollar amount sizing needs a stop loss")
        raw = value / stop_distance
    elif method == "percent_of_position":
        if not market.position:
            raise PlanError("percent of position sizing needs an open position")
        raw = abs(market.position) * value / HUNDRED
    else:
        raise PlanError(f"unknown sizing method {method!r}")
    return _round(raw, market, settings.fractional)


def needs_equity(*, intent: SignalIntent, settings) -> bool:
    signalled = _signal_quantity(intent, settings)
    method = signalled[1] if signalled else settings.sizing_method
    return method == "percent_of_equity"


def price_round(
    price: Decimal, asset_class: str, *, field: str = "limit_price", what: str = "price"
) -> Decimal:
    # A price computed from valid inputs (a 1e6 % take profit) can be beyond its column.
    if problem := exceeds(price, field=field, what=what):
        raise PlanError(problem)
    # Brokers refuse sub-penny prices on stocks of $1 and above (Alpaca, Reg NMS 612).
    if asset_class == "stock":
        unit = Decimal("0.01") if price >= 1 else Decimal("0.0001")
    else:
        unit = Decimal("0.00000001")
    return price.quantize(unit, rounding=ROUND_HALF_UP)


def _offset(base: Decimal | None, rule: ExitRule, up: bool) -> Decimal | None:
    sign = 1 if up else -1
    if rule.price is not None:
        return rule.price
    if base is None:
        raise PlanError("a relative take profit or stop loss needs a price")
    if rule.percent is not None:
        return base * (1 + sign * rule.percent / HUNDRED)
    if rule.amount is not None:
        return base + sign * rule.amount
    return None


def _settings_rule(kind: str, value, stop_type: str | None = None) -> ExitRule | None:
    if kind == "none" or value is None:
        return None
    key = {"percent": "percent", "amount": "amount", "price": "price"}[kind]
    return ExitRule(**{key: Decimal(value)}, stop_type=stop_type)


def exit_rules(*, intent: SignalIntent, settings) -> tuple[ExitRule | None, ExitRule | None]:
    take_profit = intent.take_profit or _settings_rule(
        settings.take_profit_kind, settings.take_profit_value
    )
    stop_loss = intent.stop_loss or _settings_rule(
        settings.stop_loss_kind, settings.stop_loss_value, settings.stop_loss_type
    )
    return take_profit, stop_loss


def stop_loss_distance(rule: ExitRule | None, base: Decimal | None) -> Decimal | None:
    """How far the stop sits from the entry: what risk sizing divides the risk by."""
    if rule is None:
        return None
    if rule.trail_amount is not None or rule.trail_percent is not None:
        rule = ExitRule(amount=rule.trail_amount, percent=rule.trail_percent)
    if rule.amount is not None:
        return abs(rule.amount)
    if base is None:
        return None
    stop = rule.price if rule.price is not None else _offset(base, rule, up=False)
    return abs(base - stop) if stop is not None else None


def bracket_for(
    *,
    take_profit: ExitRule | None,
    stop_loss: ExitRule | None,
    long: bool,
    base: Decimal | None,
    asset_class: str,
    symbol: str,
) -> BracketSpec | None:
    if take_profit is None and stop_loss is None:
        return None
    relative = [r for r in (take_profit, stop_loss) if r and r.price is None]
    if base is None and any(r.stop_type != "trailing_stop" for r in relative):
        raise NoPriceAvailable(symbol)
    spec = {"take_profit_limit_price": _offset(base, take_profit, up=long) if take_profit else None}
    if stop_loss is not None:
        spec.update(_stop_loss_spec(stop_loss, long, base))
    rounded = {
        k: price_round(v, asset_class, field=_BRACKET_PRICES[k][0], what=_BRACKET_PRICES[k][1])
        if k in _BRACKET_PRICES and v is not None
        else v
        for k, v in spec.items()
    }
    return BracketSpec(**rounded)


# A bracket's prices: the column each ends up in (signals.bounds) and its name in a reason.
_BRACKET_PRICES = {
    "take_profit_limit_price": ("take_profit.price", "take profit price"),
    "stop_loss_stop_price": ("stop_loss.price", "stop loss price"),
    "stop_loss_limit_price": ("stop_loss.limit_price", "stop loss limit price"),
}


def _stop_loss_spec(rule: ExitRule, long: bool, base) -> dict:
    if rule.stop_type == "trailing_stop":
        return {
            "stop_loss_trail_amount": rule.trail_amount or rule.amount,
            "stop_loss_trail_percent": rule.trail_percent or rule.percent,
        }
    stop = _offset(base, rule, up=not long)
    spec = {"stop_loss_stop_price": stop}
    if rule.stop_type == "stop_limit":
        spec["stop_loss_limit_price"] = rule.limit_price or stop
    return spec


def _order_prices(
    *, order_type: str, side: str, intent: SignalIntent, settings, market: Market
) -> dict:
    prices: dict = {}
    if order_type in ("limit", "stop_limit"):
        limit = intent.limit_price
        if limit is None:
            ref = _needs_price(market.price, intent.ticker)
            offset = settings.limit_price_offset
            limit = ref + offset if side == "buy" else ref - offset
        prices["limit_price"] = price_round(limit, market.asset_class, what="limit price")
    if order_type in ("stop", "stop_limit"):
        stop = intent.stop_price or _needs_price(market.price, intent.ticker)
        prices["stop_price"] = price_round(
            stop, market.asset_class, field="stop_price", what="stop price"
        )
    if order_type == "trailing_stop":
        if intent.trail_amount is None and intent.trail_percent is None:
            raise PlanError("a trailing stop order needs trailAmount or trailPercent")
        prices.update(trail_amount=intent.trail_amount, trail_percent=intent.trail_percent)
    return prices


def _leg(*, leg: str, side: str, quantity, intent: SignalIntent, settings, market, bracket=None):
    order_type = intent.order_type or getattr(settings, f"{leg}_order_type")
    return PlannedLeg(
        leg=leg,
        side=side,
        symbol=intent.ticker,
        quantity=quantity,
        order_type=order_type,
        time_in_force=intent.time_in_force or getattr(settings, f"{leg}_time_in_force"),
        extended_hours=bool(intent.extended_hours),
        bracket=bracket,
        **_order_prices(
            order_type=order_type, side=side, intent=intent, settings=settings, market=market
        ),
    )


def _entry_leg(*, open_side: str, room: Decimal | None, intent, settings, market):
    base = intent.limit_price or market.price
    take_profit, stop_loss = exit_rules(intent=intent, settings=settings)
    quantity = entry_quantity(
        intent=intent,
        settings=settings,
        market=market,
        stop_distance=stop_loss_distance(stop_loss, base),
    )
    note = ""
    if room is not None and quantity > room:
        quantity, note = _round(room, market, settings.fractional), "entry reduced"
    if quantity <= 0:
        return None, note or "entry quantity rounds to zero"
    bracket = bracket_for(
        take_profit=take_profit,
        stop_loss=stop_loss,
        long=open_side == "long",
        base=base,
        asset_class=market.asset_class,
        symbol=intent.ticker,
    )
    side = "buy" if open_side == "long" else "sell"
    leg = _leg(
        leg="entry",
        side=side,
        quantity=quantity,
        intent=intent,
        settings=settings,
        market=market,
        bracket=bracket,
    )
    return leg, note


def _room(decision: Decision, settings, market: Market) -> Decimal | None:
    if settings.max_position_size is None:
        return None
    held = abs(market.position) if decision.add else ZERO
    return max(ZERO, settings.max_position_size - held)


def plan_signal(*, intent: SignalIntent, settings, market: Market) -> Plan:
    """One signal, one subscription's settings, one account's market -> the orders to place,
    or why none. Raises NoPriceAvailable / PlanError when it cannot be sized or priced."""
    decision = decide(
        action=intent.action,
        sentiment=intent.sentiment,
        position=market.position,
        allowed_sides=settings.allowed_sides,
        allow_add=settings.allow_add,
    )
    if decision.cancel or decision.ignored:
        return Plan(cancel=decision.cancel, ignored=decision.ignored)
    legs, notes = [], []
    if decision.exit:
        quantity = exit_quantity(
            kind=decision.exit, intent=intent, settings=settings, market=market
        )
        if quantity <= 0:
            notes.append("exit quantity rounds to zero")
        else:
            side = "sell" if market.position > 0 else "buy"
            legs.append(
                _leg(
                    leg="exit",
                    side=side,
                    quantity=quantity,
                    intent=intent,
                    settings=settings,
                    market=market,
                )
            )
    if decision.open_side:
        room = _room(decision, settings, market)
        entry, note = _entry_leg(
            open_side=decision.open_side, room=room, intent=intent, settings=settings, market=market
        )
        if note == "entry reduced" or (entry is None and room is not None and room <= 0):
            note = f"maximum position size {settings.max_position_size.normalize():f} " + (
                "reached" if entry is None else "caps the entry"
            )
        if entry is not None:
            legs.append(entry)
        if note:
            notes.append(note)
    if not legs:
        return Plan(ignored="; ".join(notes) or "nothing to do", notes=tuple(notes))
    return Plan(legs=tuple(legs), notes=tuple(notes))


def plan_bounds_problem(*, legs, price: Decimal | None, position: Decimal) -> str | None:
    """Why ``legs`` cannot become Order rows as they are, or None: a value beyond its
    column (signals.bounds), the order's value (quantity x price) beyond what an account's
    cash holds, or an entry that takes the position beyond what a position holds."""
    for leg in legs:
        numbers = [
            (leg.quantity, "quantity", "order quantity"),
            (leg.limit_price, "limit_price", "limit price"),
            (leg.stop_price, "stop_price", "stop price"),
            (leg.trail_amount, "trail_amount", "trail amount"),
            (leg.trail_percent, "trail_percent", "trail percent"),
        ]
        if leg.bracket is not None:
            numbers += [
                (getattr(leg.bracket, name), column, what)
                for name, (column, what) in _BRACKET_PRICES.items()
            ]
        at = leg.limit_price or leg.stop_price or price
        if at is not None:
            numbers.append((leg.quantity * at, "notional", "order value"))
        if leg.leg == "entry" and position and (leg.side == "buy") == (position > 0):
            # Adding to the open side; a reversal's exit leg closes the old side first.
            numbers.append((abs(position) + leg.quantity, "quantity", "position"))
        for value, column, what in numbers:
            if value is not None and (problem := exceeds(value, field=column, what=what)):
                return problem
    return None
