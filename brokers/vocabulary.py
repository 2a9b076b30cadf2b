"""The order vocabularies, declared once: the models' choices, the signal parsers, the
planner and every adapter read them from here (brokers.adapters.base re-exports them)."""

from django.db import models


class Side(models.TextChoices):
    BUY = "buy", "Buy"
    SELL = "sell", "Sell"


class OrderType(models.TextChoices):
    MARKET = "market", "Market"
    LIMIT = "limit", "Limit"
    STOP = "stop", "Stop"
    STOP_LIMIT = "stop_limit", "Stop limit"
    TRAILING_STOP = "trailing_stop", "Trailing stop"


class TimeInForce(models.TextChoices):
    DAY = "day", "Day"
    GTC = "gtc", "Good till cancelled"
    OPG = "opg", "On open"
    CLS = "cls", "On close"
    IOC = "ioc", "Immediate or cancel"
    FOK = "fok", "Fill or kill"


class Leg(models.TextChoices):
    ENTRY = "entry", "Entry"
    EXIT = "exit", "Exit"
    TAKE_PROFIT = "take_profit", "Take profit"
    STOP_LOSS = "stop_loss", "Stop loss"


# The order types a subscription may choose for its entries and exits (a trailing stop
# has no price to enter at), and for its stop loss: subsets, so still one declaration.
SUBSCRIPTION_ORDER_TYPES = (
    OrderType.MARKET,
    OrderType.LIMIT,
    OrderType.STOP,
    OrderType.STOP_LIMIT,
)
STOP_LOSS_ORDER_TYPES = (OrderType.STOP, OrderType.STOP_LIMIT, OrderType.TRAILING_STOP)


def choices_of(members) -> list[tuple[str, str]]:
    """Model-field choices for a subset of one vocabulary."""
    return [(member.value, member.label) for member in members]


# Time in force that never rests: an order that cannot fill at once is canceled.
IMMEDIATE_ONLY = (TimeInForce.IOC, TimeInForce.FOK)

# The fields that describe an order, the same on Order, PaperOrder, PlannedLeg and
# OrderRequest: the one list every mapping between them copies.
ORDER_FIELDS = (
    "symbol",
    "side",
    "quantity",
    "order_type",
    "time_in_force",
    "limit_price",
    "stop_price",
    "trail_amount",
    "trail_percent",
    "extended_hours",
)


def order_fields(source, names=ORDER_FIELDS) -> dict:
    """The order-describing fields of any of those objects, as keyword arguments."""
    return {name: getattr(source, name) for name in names}
