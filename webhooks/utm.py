"""The UTM dialect's body (seeds/utm-webhooks.md) -> one SignalIntent.

Every field is checked and every problem reported at once, as UTM clients expect
(``details: [{field, message}]``). Names and defaults are the seed's: quantityType FIXED,
orderType MARKET, timeInForce DAY. Two additions, both optional and documented in the
schema: ``clientSignalId`` (an idempotency key in the body, for senders that cannot set
headers) and ``price`` (a reference price for sizing and for the paper broker's fills).
"""

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from config.safejson import NonFinite
from signals.bounds import bound
from signals.intent import ExitRule, SignalIntent

ACTIONS = {
    "openLong": "open_long",
    "openShort": "open_short",
    "closeLong": "close_long",
    "closeShort": "close_short",
    "reverseToLong": "reverse_to_long",
    "reverseToShort": "reverse_to_short",
}
QUANTITY_TYPES = {
    "FIXED": "fixed_quantity",
    "PERCENT_EQUITY": "percent_of_equity",
    "DOLLAR_AMOUNT": "dollar_amount",
    "PERCENT_POSITION": "percent_of_position",
}
ORDER_TYPES = {"MARKET": "market", "LIMIT": "limit", "STOP": "stop", "STOP_LIMIT": "stop_limit"}
TIME_IN_FORCE = {"DAY": "day", "GTC": "gtc", "IOC": "ioc", "FOK": "fok"}
EXIT_TYPES = ("PERCENT", "PRICE", "AMOUNT")
SYMBOL_RE = re.compile(r"^[A-Z0-9][A-Z0-9.\-/:!_]{0,39}$")
COMMENT_MAX = 500
CLIENT_ID_MAX = 200


class UtmValidationError(Exception):
    def __init__(self, details: list[dict]):
        super().__init__("Request payload validation failed")
        self.details = details


@dataclass
class UtmSignal:
    intent: SignalIntent
    account_id: str
    strategy_id: str | None
    client_signal_id: str | None
    payload: dict = field(default_factory=dict)  # the request with the seed's defaults


class _Checker:
    """Collects every problem of one body instead of stopping at the first."""

    def __init__(self, body: dict):
        self.body = body
        self.details: list[dict] = []

    def fail(self, name: str, message: str) -> None:
        self.details.append({"field": name, "message": message})

    def text(self, name: str, *, required=False, max_length=200) -> str | None:
        value = self.body.get(name)
        if value is None:
            if required:
                self.fail(name, f"{name} is required")
            return None
        if not isinstance(value, str) or not value.strip():
            self.fail(name, f"{name} must be a non-empty string")
            return None
        if len(value) > max_length:
            self.fail(name, f"{name} must be at most {max_length} characters")
            return None
        return value.strip()

    def choice(self, name: str, choices: dict, default: str | None = None) -> str | None:
        value = self.body.get(name)
        if value is None:
            value = default
        if value is None:
            return None
        if isinstance(value, str):
            for key in choices:  # the seed's spelling, but forgiving about case
                if key.lower() == value.strip().lower():
                    return key
        self.fail(name, f"{name} must be one of: {', '.join(choices)}")
        return None

    def number(
        self, name: str, *, field: str, source: dict | None = None, label: str | None = None
    ):
        value = (self.body if source is None else source).get(name)
        label = label or name
        if value is None:
            return None
        return positive_decimal(value, label, self.fail, field=field)


def positive_decimal(value: Any, label: str, fail, *, field: str) -> Decimal | None:
    """A number > 0 (numeric strings accepted) that the column behind ``field`` (an intent
    name, signals.bounds) can hold, rounded to its decimals (more is float noise, 0.1 +
    0.2, from most senders); booleans, NaN and values beyond the column refused."""
    limit = bound(field)
    if isinstance(value, NonFinite):  # 1e400: a number, just not one anything can hold
        value = value.text
    elif isinstance(value, bool) or not isinstance(value, int | float | str):
        fail(label, f"{label} must be a number")
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        fail(label, f"{label} must be a number")
        return None
    if not number.is_finite() or number <= 0:
        fail(label, f"{label} must be greater than 0")
        return None
    if not limit.fits(number):
        fail(label, f"{label} must be less than {limit.limit:f}")
        return None
    number = limit.rounded(number)
    if number is None or number <= 0:  # 0.000000001 rounds to 0 at 8 decimals
        fail(label, f"{label} must be greater than 0")
        return None
    number = number.normalize()  # 450.30000000 -> 450.3, but 100 -> 1E+2 ...
    return number.quantize(Decimal(1)) if number.as_tuple().exponent > 0 else number


def utm_parse(body: Any) -> UtmSignal:
    """The decoded JSON body as a UtmSignal, or UtmValidationError listing every problem."""
    if not isinstance(body, dict):
        raise UtmValidationError([{"field": "body", "message": "Body must be a JSON object"}])
    check = _Checker(body)
    symbol = _symbol(check)
    action = check.choice("action", ACTIONS)
    if body.get("action") is None:
        check.fail("action", "action is required")
    account_id = check.text("accountId", required=True, max_length=100)
    quantity = check.number("quantity", field="quantity")
    quantity_type = check.choice("quantityType", QUANTITY_TYPES, "FIXED")
    _check_percent(check, quantity, quantity_type)
    order_type = check.choice("orderType", ORDER_TYPES, "MARKET")
    limit_price, stop_price = _prices(check, order_type)
    time_in_force = check.choice("timeInForce", TIME_IN_FORCE, "DAY")
    take_profit, stop_loss = _exit_rules(check)
    strategy_id = check.text("strategyId", max_length=100)
    comment = check.text("comment", max_length=COMMENT_MAX) or ""
    client_signal_id = check.text("clientSignalId", max_length=CLIENT_ID_MAX)
    price = check.number("price", field="price")
    if check.details:
        raise UtmValidationError(check.details)
    intent = SignalIntent(
        ticker=symbol,
        action=ACTIONS[action],
        price=price,
        quantity=quantity,
        quantity_type=QUANTITY_TYPES[quantity_type] if quantity is not None else None,
        order_type=ORDER_TYPES[order_type],
        limit_price=limit_price,
        stop_price=stop_price,
        time_in_force=TIME_IN_FORCE[time_in_force],
        take_profit=take_profit,
        stop_loss=stop_loss,
        account_id=account_id,
        comment=comment,
    )
    payload = _echo(body, symbol, action, quantity_type, order_type, time_in_force)
    return UtmSignal(intent, account_id, strategy_id, client_signal_id, payload)


def _symbol(check: _Checker) -> str | None:
    symbol = check.text("symbol", required=True, max_length=40)
    if symbol is None:
        return None
    symbol = symbol.upper()
    if not SYMBOL_RE.match(symbol):
        check.fail("symbol", "Symbol must be letters and digits (with . / - : ! _ inside)")
        return None
    return symbol


def _check_percent(check: _Checker, quantity, quantity_type) -> None:
    percent = quantity_type in ("PERCENT_EQUITY", "PERCENT_POSITION")
    if percent and quantity is not None and quantity > 100:
        check.fail("quantity", f"quantity is a percentage with {quantity_type}: at most 100")


def _prices(check: _Checker, order_type: str | None):
    limit_price = check.number("limitPrice", field="limit_price")
    stop_price = check.number("stopPrice", field="stop_price")
    if order_type in ("LIMIT", "STOP_LIMIT") and check.body.get("limitPrice") is None:
        check.fail("limitPrice", f"limitPrice is required for {order_type} orders")
    if order_type in ("STOP", "STOP_LIMIT") and check.body.get("stopPrice") is None:
        check.fail("stopPrice", f"stopPrice is required for {order_type} orders")
    return limit_price, stop_price


def _exit_rules(check: _Checker) -> tuple[ExitRule | None, ExitRule | None]:
    rules = check.body.get("exitRules")
    if rules is None:
        return None, None
    if not isinstance(rules, dict):
        check.fail("exitRules", "exitRules must be an object")
        return None, None
    for name in sorted(set(rules) - {"stopLoss", "takeProfit"}):
        check.fail(f"exitRules.{name}", "Unknown exit rule: use stopLoss or takeProfit")
    return _exit_rule(check, rules, "takeProfit"), _exit_rule(check, rules, "stopLoss")


def _exit_rule(check: _Checker, rules: dict, name: str) -> ExitRule | None:
    rule = rules.get(name)
    label = f"exitRules.{name}"
    if rule is None:
        return None
    if not isinstance(rule, dict):
        check.fail(label, f"{label} must be an object with type and value")
        return None
    kind = rule.get("type")
    if not isinstance(kind, str) or kind.strip().upper() not in EXIT_TYPES:
        check.fail(f"{label}.type", f"{label}.type must be one of: {', '.join(EXIT_TYPES)}")
        kind = None
    if rule.get("value") is None:
        check.fail(f"{label}.value", f"{label}.value is required")
        return None
    if kind is not None:
        kind = kind.strip().upper()
    attribute = {"PERCENT": "percent", "PRICE": "price", "AMOUNT": "amount"}.get(kind, "percent")
    field = f"{'take_profit' if name == 'takeProfit' else 'stop_loss'}.{attribute}"
    value = check.number("value", field=field, source=rule, label=f"{label}.value")
    if kind is None or value is None:
        return None
    if kind == "PERCENT" and name == "stopLoss" and value >= 100:
        check.fail(f"{label}.value", "A stop loss percentage must be below 100")
        return None
    return ExitRule(**{attribute: value})


def _echo(body: dict, symbol, action, quantity_type, order_type, time_in_force) -> dict:
    echo = {
        "symbol": symbol,
        "action": action,
        "accountId": body["accountId"].strip(),
        "quantityType": quantity_type,
        "orderType": order_type,
        "timeInForce": time_in_force,
    }
    for name in ("quantity", "limitPrice", "stopPrice", "price"):
        if body.get(name) is not None:
            echo[name] = body[name]
    for name in ("strategyId", "comment", "clientSignalId"):
        if isinstance(body.get(name), str):
            echo[name] = body[name]
    rules = body.get("exitRules") or {}
    # Only the validated parts: whatever else a sender nests in there is not ours to keep.
    exit_rules = {
        name: {"type": rules[name]["type"].strip().upper(), "value": rules[name]["value"]}
        for name in ("stopLoss", "takeProfit")
        if rules.get(name) is not None
    }
    if exit_rules:
        echo["exitRules"] = exit_rules
    return echo
