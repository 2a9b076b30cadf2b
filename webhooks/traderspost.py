"""The TradersPost dialect: body fields -> a normalized echo payload and a SignalIntent.

Pure (no database, no request): the ticker's database checks are passed in as a callable
so the fixed check order (docs/webhooks.md) lives here in one place. Liberal in what it
accepts (numbers as numeric strings, any case and surrounding whitespace in enum values,
long/short for bullish/bearish, unknown fields ignored), exact in what it answers.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.dateparse import parse_datetime

from config.safejson import JsonRejected, NonFinite, non_finite_path
from signals.bounds import Bound, bound
from signals.intent import ORDER_TYPES, QUANTITY_TYPES, TIME_IN_FORCE, ExitRule, SignalIntent

ACTIONS = ("buy", "sell", "exit", "cancel", "add")
SENTIMENT_ALIASES = {"bullish": "bullish", "bearish": "bearish", "flat": "flat"}
SENTIMENT_ALIASES.update(long="bullish", short="bearish")
STOP_LOSS_TYPES = ("stop", "stop_limit", "trailing_stop")
OPTION_TYPES = ("both", "call", "put")
INTRINSIC_VALUES = ("itm", "otm")
_RELATIVE_EXPIRATION = re.compile(r"^\+?\s*\d{1,4}\s*(day|week|month|year)s?$", re.IGNORECASE)

MESSAGES = {
    "post-required": "The HTTP POST method is required for this trade signal.",
    "not-found": "Webhook not found.",
    "too-many-requests": "Too Many Requests",
    "webhook-disabled": "This webhook is disabled. Enable it in TradeRelay to accept trade signals.",
    "organization-suspended": "The organization that owns this webhook is suspended.",
    "empty-json": "Your trade signal was empty. Please ensure that your trade signal contains valid JSON data with the necessary trade instructions. TradersPost requires this information to properly process and execute your trade.",
    "malformed-json": "The JSON payload could not be parsed. Please ensure that your JSON is properly formatted and valid.",
    "invalid-payload": "The payload is invalid. Both the action and ticker fields are required.",
    "invalid-action": "The provided action is invalid. The action field must be one of the following values: buy, sell, exit, cancel, or add.",
    "invalid-sentiment": "The provided sentiment value is invalid. The sentiment field must be one of the following values: bullish, bearish, or flat.",
    "invalid-sentiment-action": "Invalid sentiment action provided. Sentiment can only be used with action buy or sell.",
    "invalid-order-type": "The provided orderType is invalid. The orderType field must be one of the following values: market, limit, stop, stop_limit, or trailing_stop.",
    "invalid-trailing-stop": "Invalid trailing stop. A trailing_stop order needs exactly one of trailAmount or trailPercent, as a positive numeric value.",
    "invalid-option-type": "The provided optionType is invalid. The optionType field must be one of the following values: both, call, or put.",
    "invalid-intrinsic-value": "The provided intrinsicValue is invalid. The intrinsicValue field must be one of the following values: itm or otm.",
    "invalid-expiration": "The provided expiration is invalid. Use a date like 2024-05-06 or a relative expression like +6 months.",
    "invalid-strike-count": "The provided strikeCount is invalid. The strikeCount field must be a positive integer.",
    "invalid-strikes-away": "The provided strikesAway is invalid. The strikesAway field must be an integer.",
    "invalid-strike-price": "The provided strikePrice is invalid. The strikePrice field must be a positive numeric value.",
    "not-trading-view": "The trade signal did not come from TradingView. You have your strategy configured to only accept trade signals from TradingView.",
    "not-trend-spider": "The trade signal did not come from TrendSpider. You have your strategy configured to only accept trade signals from TrendSpider.",
    "invalid-ip-address": "The trade signal did not come from one of your configured IP addresses. You have your strategy configured to only accept trade signals from specific IP addresses.",
    "ticker-does-not-exist": "The provided ticker does not exist in the asset class configured for this strategy.",
    "invalid-password": "The password in your webhook URL is not correct. You may need to generate a new Webhook URL if you have lost the correct Webhook URL.",
    "empty-ticker-name": "Empty ticker name provided.",
    "unsupported-ticker": 'The provided ticker symbol is not allowed on this strategy. The ticker must be one of the supported tickers configured for this strategy or you must have "Allow any ticker" checked.',
    "invalid-quantity-type": "The provided quantityType is invalid. The quantityType field must be one of the following values: fixed_quantity, dollar_amount, risk_dollar_amount, percent_of_equity, or percent_of_position.",
    "invalid-quantity-type-action": "A quantityType cannot be used with action cancel.",
    "invalid-risk-dollar-amount-action": "quantityType risk_dollar_amount needs an entry action (buy, sell or add) and a stopLoss.",
    "invalid-percent-of-position-action": "quantityType percent_of_position can only be used to exit or add to a position (action exit or add, or buy/sell with a sentiment).",
    "quantity-type-requires-quantity": "A quantityType was provided without a quantity.",
    "invalid-quantity": "The provided quantity is invalid. The quantity field must be a positive numeric value.",
    "invalid-time-in-force": "The provided timeInForce is invalid. The timeInForce field must be one of the following values: day, gtc, opg, cls, ioc, or fok.",
    "invalid-extended-hours": "The provided extendedHours is invalid. The extendedHours field must be true or false.",
    "invalid-asset-class": "The asset class of the provided ticker is not supported by this strategy.",
    "invalid-take-profit-percent": "The provided takeProfit.percent is invalid. The takeProfit.percent field must be a positive numeric value representing a relative percentage.",
    "invalid-take-profit-amount": "The provided takeProfit.amount is invalid. The takeProfit.amount field must be a positive numeric value representing a relative dollar amount.",
    "invalid-take-profit-limit-price": "The provided takeProfit.limitPrice is invalid. The takeProfit.limitPrice field must be a positive numeric value.",
    "invalid-take-profit-amount-and-percent": "The takeProfit can have an amount or a percent, not both.",
    "invalid-take-profit-relative-and-absolute": "The takeProfit can be relative (percent or amount) or absolute (limitPrice), not both.",
    "invalid-take-profit-value-required": "The takeProfit needs one of: limitPrice, percent or amount.",
    "invalid-stop-loss-type": "The provided stopLoss.type is invalid. The stopLoss.type field must be one of the following values: stop, stop_limit, or trailing_stop.",
    "invalid-stop-loss-percent": "The provided stopLoss.percent is invalid. The stopLoss.percent field must be a positive numeric value representing a relative percentage.",
    "invalid-stop-loss-amount": "The provided stopLoss.amount is invalid. The stopLoss.amount field must be a positive numeric value representing a relative dollar amount.",
    "invalid-stop-loss-stop-price": "The provided stopLoss.stopPrice is invalid. The stopLoss.stopPrice field must be a positive numeric value.",
    "invalid-stop-loss-limit-price": "The provided stopLoss.limitPrice is invalid. It must be a positive numeric value and requires stopLoss.type stop_limit.",
    "invalid-stop-loss-trail-amount": "The provided stopLoss.trailAmount is invalid. The stopLoss.trailAmount field must be a positive numeric value.",
    "invalid-stop-loss-trail-percent": "The provided stopLoss.trailPercent is invalid. The stopLoss.trailPercent field must be a positive numeric value.",
    "invalid-stop-loss-trail-value": "A stopLoss can have a trailAmount or a trailPercent, not both, and only with stopLoss.type trailing_stop.",
    "invalid-stop-loss-trail-value-required": "A trailing_stop stopLoss needs a trailAmount or a trailPercent.",
    "invalid-stop-loss-amount-and-percent": "The stopLoss can have an amount or a percent, not both.",
    "invalid-stop-loss-relative-and-absolute": "The stopLoss can be relative (percent or amount) or absolute (stopPrice), not both.",
    "invalid-stop-loss-stop-price-required": "A stop_limit stopLoss with a limitPrice needs a stopPrice.",
    "invalid-stop-loss-value-required": "The stopLoss needs one of: stopPrice, percent or amount.",
}


class WebhookRejected(Exception):
    """A request this dialect answers with its error envelope."""

    def __init__(
        self,
        code: str,
        message: str | None = None,
        *,
        status: int = 400,
        retry_after: int | None = None,
    ):
        super().__init__(code)
        self.code = code
        self.message = message or MESSAGES[code]
        self.status = status
        self.retry_after = retry_after


def json_refusal_message(refused: JsonRejected) -> str:
    """invalid-payload's message for JSON the parse-time policy refused (config.safejson)."""
    where = f"The {refused.path} field" if refused.path else "The payload"
    return f"{where} is invalid. {refused.message}"


@dataclass(frozen=True)
class Parsed:
    payload: dict  # the normalized echo, numbers as numbers
    intent: SignalIntent


def _decimal(value: Any) -> Decimal | None:
    # Bools are not numbers, whatever Python thinks; a NonFinite (1e400) is not one either.
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return Decimal(value.strip() if isinstance(value, str) else str(value))
    except (InvalidOperation, ValueError):
        return None


def to_number(value: Any, *, field: str = "") -> Decimal | None:
    """A number from a JSON number or a numeric string that the column behind ``field``
    (signals.bounds, by intent name) can hold, rounded to its decimals; else None."""
    number = _decimal(value)
    return None if number is None else bound(field).rounded(number)


def to_positive(value: Any, *, field: str = "") -> Decimal | None:
    number = to_number(value, field=field)
    return number if number is not None and number > 0 else None


def _too_large(value: Any, limit: Bound) -> bool:
    number = _decimal(value)
    return isinstance(value, NonFinite) or (number is not None and not limit.fits(number))


def number_rejected(code: str, value: Any, *, field: str = "", message: str | None = None):
    """The field's rejection; when the number is beyond what storage holds, the message
    says the bound (the code stays the field's own)."""
    message = message or MESSAGES[code]
    limit = bound(field)
    if _too_large(value, limit):
        message = f"{message} It must be less than {limit.limit:f} in size."
    return WebhookRejected(code, message)


def echo_number(number: Decimal) -> int | float:
    return int(number) if number == number.to_integral_value() else float(number)


def _enum(value: Any, allowed, code: str) -> str:
    text = value.strip().lower() if isinstance(value, str) else None
    if text not in allowed:
        raise WebhookRejected(code)
    return text


def _bool(value: Any, code: str, message: str | None = None) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise WebhookRejected(code, message)


def _present(data: dict, name: str) -> bool:
    value = data.get(name)
    return value is not None and value != ""


def parse(data: Any, *, check_ticker: Callable[[str], None]) -> Parsed:
    """Validate a decoded body in the documented order; raise WebhookRejected on the first
    failing check. ``check_ticker(symbol)`` raises for allowlist / ticker database faults."""
    if not isinstance(data, dict):
        raise WebhookRejected("invalid-payload", "The payload must be a JSON object.")
    if not data:
        raise WebhookRejected("empty-json")
    if data.get("ticker") is None or data.get("action") is None:
        raise WebhookRejected("invalid-payload")
    out: dict = {}
    fields: dict = {}
    _parse_core(data, out, fields)
    out["ticker"] = fields["ticker"] = _ticker(data["ticker"], check_ticker)
    _parse_order(data, out, fields)
    _parse_quantity_type(data, out, fields)
    if _present(data, "timeInForce"):
        out["timeInForce"] = fields["time_in_force"] = _enum(
            data["timeInForce"], TIME_IN_FORCE, "invalid-time-in-force"
        )
    if data.get("extendedHours") is not None:
        out["extendedHours"] = fields["extended_hours"] = _bool(
            data["extendedHours"], "invalid-extended-hours"
        )
    if data.get("takeProfit") is not None:
        out["takeProfit"], fields["take_profit"] = _take_profit(data["takeProfit"])
    if data.get("stopLoss") is not None:
        out["stopLoss"], fields["stop_loss"] = _stop_loss(data["stopLoss"])
    _parse_options(data, out)
    _parse_rest(data, out, fields)
    return Parsed(payload=_ordered(out), intent=SignalIntent(**fields))


_ECHO_ORDER = ("ticker", "action", "sentiment", "price", "quantity")


def _ordered(out: dict) -> dict:
    # The seed's examples put ticker, action, sentiment, price, quantity first.
    head = {k: out[k] for k in _ECHO_ORDER if k in out}
    return head | {k: v for k, v in out.items() if k not in head}


def _parse_core(data: dict, out: dict, fields: dict) -> None:
    if not isinstance(data["ticker"], str):
        raise WebhookRejected("invalid-payload", "The ticker field must be a string.")
    action = _enum(data["action"], ACTIONS, "invalid-action")
    out["action"] = fields["action"] = action
    if _present(data, "sentiment"):
        sentiment = _enum(data["sentiment"], SENTIMENT_ALIASES, "invalid-sentiment")
        if action not in ("buy", "sell"):
            raise WebhookRejected("invalid-sentiment-action")
        out["sentiment"] = fields["sentiment"] = SENTIMENT_ALIASES[sentiment]
    if _present(data, "quantity"):
        quantity = to_positive(data["quantity"], field="quantity")
        if quantity is None:
            raise number_rejected("invalid-quantity", data["quantity"], field="quantity")
        out["quantity"], fields["quantity"] = echo_number(quantity), quantity


def _ticker(value: str, check_ticker: Callable[[str], None]) -> str:
    symbol = value.strip().upper()
    if ":" in symbol:  # TradingView's EXCHANGE:SYMBOL form ({{exchange}}:{{ticker}})
        symbol = symbol.rsplit(":", 1)[1].strip()
    if not symbol:
        raise WebhookRejected("empty-ticker-name")
    check_ticker(symbol)
    return symbol


def _price(data: dict, name: str, out: dict, fields: dict, field: str) -> None:
    if not _present(data, name):
        return
    number = to_positive(data[name], field=field)
    if number is None:
        message = f"The provided {name} is invalid. It must be a positive number."
        raise number_rejected("invalid-payload", data[name], field=field, message=message)
    out[name], fields[field] = echo_number(number), number


def _parse_order(data: dict, out: dict, fields: dict) -> None:
    order_type = None
    if _present(data, "orderType"):
        order_type = _enum(data["orderType"], ORDER_TYPES, "invalid-order-type")
        out["orderType"] = fields["order_type"] = order_type
    _price(data, "price", out, fields, "price")
    _price(data, "signalPrice", out, fields, "signal_price")
    _price(data, "limitPrice", out, fields, "limit_price")
    _price(data, "stopPrice", out, fields, "stop_price")
    trail = {}
    for name, field in (("trailAmount", "trail_amount"), ("trailPercent", "trail_percent")):
        if _present(data, name):
            number = to_positive(data[name], field=field)
            if number is None:
                raise number_rejected("invalid-trailing-stop", data[name], field=field)
            trail[name] = (field, number)
    if len(trail) > 1 or (order_type == "trailing_stop" and not trail):
        raise WebhookRejected("invalid-trailing-stop")
    for name, (field, number) in trail.items():
        out[name], fields[field] = echo_number(number), number


def _parse_quantity_type(data: dict, out: dict, fields: dict) -> None:
    if not _present(data, "quantityType"):
        return
    quantity_type = _enum(data["quantityType"], QUANTITY_TYPES, "invalid-quantity-type")
    action = fields["action"]
    if action == "cancel":
        raise WebhookRejected("invalid-quantity-type-action")
    if quantity_type == "risk_dollar_amount" and (action == "exit" or data.get("stopLoss") is None):
        raise WebhookRejected("invalid-risk-dollar-amount-action")
    if (
        quantity_type == "percent_of_position"
        and action in ("buy", "sell")
        and "sentiment" not in fields
    ):
        raise WebhookRejected("invalid-percent-of-position-action")
    if "quantity" not in fields:
        raise WebhookRejected("quantity-type-requires-quantity")
    out["quantityType"] = fields["quantity_type"] = quantity_type


def _leg_fields(prefix: str, names: tuple[str, ...]) -> dict[str, tuple[str, str]]:
    """A leg's numeric fields -> (the intent name of their column in signals.bounds, their
    messageCode): trailAmount -> stop_loss.trail_amount, invalid-stop-loss-trail-amount."""
    rule = prefix.replace("-", "_")
    out = {}
    for name in names:
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
        column = {"stopPrice": "price", "limitPrice": "price" if rule == "take_profit" else snake}
        out[name] = (
            f"{rule}.{column.get(name, snake)}",
            f"invalid-{prefix}-{snake.replace('_', '-')}",
        )
    return out


def _leg_numbers(leg: dict, fields: dict[str, tuple[str, str]]) -> dict[str, Decimal]:
    values = {}
    for name, (field, code) in fields.items():
        if leg.get(name) is None:
            continue
        number = to_positive(leg[name], field=field)
        if number is None:
            raise number_rejected(code, leg[name], field=field)
        values[name] = number
    return values


_TAKE_PROFIT_NUMBERS = _leg_fields("take-profit", ("limitPrice", "percent", "amount"))


def _take_profit(leg: Any) -> tuple[dict, ExitRule]:
    if not isinstance(leg, dict):
        raise WebhookRejected("invalid-take-profit-value-required")
    values = _leg_numbers(leg, _TAKE_PROFIT_NUMBERS)
    if "amount" in values and "percent" in values:
        raise WebhookRejected("invalid-take-profit-amount-and-percent")
    if "limitPrice" in values and len(values) > 1:
        raise WebhookRejected("invalid-take-profit-relative-and-absolute")
    if not values:
        raise WebhookRejected("invalid-take-profit-value-required")
    rule = ExitRule(
        percent=values.get("percent"), amount=values.get("amount"), price=values.get("limitPrice")
    )
    return {k: echo_number(v) for k, v in values.items()}, rule


_STOP_LOSS_NUMBERS = _leg_fields(
    "stop-loss", ("percent", "amount", "stopPrice", "limitPrice", "trailAmount", "trailPercent")
)


def _stop_loss(leg: Any) -> tuple[dict, ExitRule]:
    if not isinstance(leg, dict):
        raise WebhookRejected("invalid-stop-loss-value-required")
    stop_type = None
    if leg.get("type") is not None:
        stop_type = _enum(leg["type"], STOP_LOSS_TYPES, "invalid-stop-loss-type")
    values = _leg_numbers(leg, _STOP_LOSS_NUMBERS)
    _stop_loss_combination(stop_type, values)
    rule = ExitRule(
        percent=values.get("percent"),
        amount=values.get("amount"),
        price=values.get("stopPrice"),
        stop_type=stop_type,
        limit_price=values.get("limitPrice"),
        trail_amount=values.get("trailAmount"),
        trail_percent=values.get("trailPercent"),
    )
    echo = {k: echo_number(v) for k, v in values.items()}
    return ({"type": stop_type} | echo) if stop_type else echo, rule


def _stop_loss_combination(stop_type: str | None, values: dict) -> None:
    relative = {"percent", "amount"} & values.keys()
    trail = {"trailAmount", "trailPercent"} & values.keys()
    if len(relative) > 1:
        raise WebhookRejected("invalid-stop-loss-amount-and-percent")
    if relative and "stopPrice" in values:
        raise WebhookRejected("invalid-stop-loss-relative-and-absolute")
    if "limitPrice" in values and stop_type != "stop_limit":
        raise WebhookRejected("invalid-stop-loss-limit-price")
    if stop_type == "stop_limit" and "limitPrice" in values and "stopPrice" not in values:
        raise WebhookRejected("invalid-stop-loss-stop-price-required")
    if len(trail) > 1 or (trail and stop_type != "trailing_stop"):
        raise WebhookRejected("invalid-stop-loss-trail-value")
    if stop_type == "trailing_stop" and not trail:
        raise WebhookRejected("invalid-stop-loss-trail-value-required")
    if not relative and "stopPrice" not in values and not trail:
        raise WebhookRejected("invalid-stop-loss-value-required")


def _parse_options(data: dict, out: dict) -> None:
    """Options fields are validated and kept in the payload for the options pipeline."""
    if _present(data, "optionType"):
        out["optionType"] = _enum(data["optionType"], OPTION_TYPES, "invalid-option-type")
    if _present(data, "intrinsicValue"):
        out["intrinsicValue"] = _enum(
            data["intrinsicValue"], INTRINSIC_VALUES, "invalid-intrinsic-value"
        )
    if _present(data, "expiration"):
        out["expiration"] = _expiration(data["expiration"])
    for name, code, minimum in (
        ("strikeCount", "invalid-strike-count", 1),
        ("strikesAway", "invalid-strikes-away", None),
    ):
        if _present(data, name):
            number = to_number(data[name])
            if number is None or number != number.to_integral_value():
                raise number_rejected(code, data[name])
            if minimum is not None and number < minimum:
                raise WebhookRejected(code)
            out[name] = int(number)
    if _present(data, "strikePrice"):
        number = to_positive(data["strikePrice"])
        if number is None:
            raise number_rejected("invalid-strike-price", data["strikePrice"])
        out["strikePrice"] = echo_number(number)


def _expiration(value: Any) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if _RELATIVE_EXPIRATION.match(text):
        return text
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise WebhookRejected("invalid-expiration")


def _parse_rest(data: dict, out: dict, fields: dict) -> None:
    if _present(data, "time"):
        text = data["time"].strip() if isinstance(data["time"], str) else ""
        try:
            valid = parse_datetime(text) is not None
        except ValueError:
            valid = False
        if not valid:
            raise WebhookRejected(
                "invalid-payload", "The provided time is invalid. Use an ISO-8601 date-time."
            )
        out["time"] = text
    if _present(data, "interval"):
        if isinstance(data["interval"], bool) or not isinstance(data["interval"], str | int):
            raise WebhookRejected("invalid-payload", "The provided interval is invalid.")
        out["interval"] = str(data["interval"]).strip()[:20]
    for name in ("test", "cancel", "ignoreTradingWindows"):
        if data.get(name) is not None:
            out[name] = _bool(
                data[name], "invalid-payload", f"The {name} field must be true or false."
            )
    if data.get("extras") is not None:
        if not isinstance(data["extras"], dict):
            raise WebhookRejected("invalid-payload", "The extras field must be a JSON object.")
        if where := non_finite_path(data["extras"], "extras"):
            # PostgreSQL's JSON has no Infinity: keeping it would fail the log row.
            message = f"The {where} field is invalid: numbers must be finite (1e400 is not)."
            raise WebhookRejected("invalid-payload", message)
        out["extras"] = fields["extras"] = data["extras"]
