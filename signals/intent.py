"""The one normalized form both dialects' parsers produce and the pipeline consumes.

Stored as JSON on ``Signal.intent`` (decimals as strings, so no precision is lost)."""

from dataclasses import asdict, dataclass, field, fields
from decimal import Decimal

from brokers.vocabulary import OrderType, TimeInForce

# TradersPost actions, then UTM's (snake_case here; the UTM parser maps openLong -> open_long).
ACTIONS = (
    "buy",
    "sell",
    "exit",
    "cancel",
    "add",
    "open_long",
    "open_short",
    "close_long",
    "close_short",
    "reverse_to_long",
    "reverse_to_short",
)
SENTIMENTS = ("bullish", "bearish", "flat")
QUANTITY_TYPES = (
    "fixed_quantity",
    "dollar_amount",
    "risk_dollar_amount",
    "percent_of_equity",
    "percent_of_position",
)
ORDER_TYPES = tuple(OrderType.values)
TIME_IN_FORCE = tuple(TimeInForce.values)

_DECIMALS = {
    "price",
    "signal_price",
    "quantity",
    "limit_price",
    "stop_price",
    "trail_amount",
    "trail_percent",
}


@dataclass(frozen=True)
class ExitRule:
    """A take-profit or stop-loss leg. Exactly one of percent / amount / price (absolute
    limit price for a take profit, stop price for a stop loss) is set, or, for a trailing
    stop, trail_amount / trail_percent."""

    percent: Decimal | None = None
    amount: Decimal | None = None
    price: Decimal | None = None
    stop_type: str | None = None  # stop, stop_limit, trailing_stop (stop loss only)
    limit_price: Decimal | None = None  # stop_limit stop loss
    trail_amount: Decimal | None = None
    trail_percent: Decimal | None = None

    def to_json(self) -> dict:
        return {
            k: (str(v) if isinstance(v, Decimal) else v)
            for k, v in asdict(self).items()
            if v is not None
        }

    @classmethod
    def from_json(cls, data: dict | None) -> "ExitRule | None":
        if not data:
            return None
        return cls(**{k: (v if k == "stop_type" else Decimal(v)) for k, v in data.items()})


@dataclass(frozen=True)
class SignalIntent:
    ticker: str
    action: str
    sentiment: str | None = None
    price: Decimal | None = None
    signal_price: Decimal | None = None
    quantity: Decimal | None = None
    quantity_type: str | None = None
    order_type: str | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trail_amount: Decimal | None = None
    trail_percent: Decimal | None = None
    time_in_force: str | None = None
    extended_hours: bool | None = None
    take_profit: ExitRule | None = None
    stop_loss: ExitRule | None = None
    account_id: str | None = None  # UTM: the one target account
    comment: str = ""
    extras: dict = field(default_factory=dict)

    @property
    def reference_price(self) -> Decimal | None:
        return self.price if self.price is not None else self.signal_price

    def to_json(self) -> dict:
        out: dict = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None or value == "" or value == {}:
                continue
            if isinstance(value, ExitRule):
                value = value.to_json()
            elif isinstance(value, Decimal):
                value = str(value)
            out[f.name] = value
        return out

    @classmethod
    def from_json(cls, data: dict) -> "SignalIntent":
        kwargs = dict(data)
        for name in _DECIMALS & kwargs.keys():
            kwargs[name] = Decimal(kwargs[name])
        for name in ("take_profit", "stop_loss"):
            kwargs[name] = ExitRule.from_json(kwargs.get(name))
        return cls(**kwargs)
