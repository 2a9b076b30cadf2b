"""The bounds every number of a signal must keep, read from the columns that will hold it,
so that "accepted" means "storable": a column change moves validation with it.

Both ingestion dialects validate each numeric field against its entry here, and the
pipeline checks the numbers it computes from them (sized quantities, bracket prices,
notionals) against the same entries before it builds Order rows (signals.pipeline).

A bound is what a ``DecimalField(max_digits, decimal_places)`` holds: fewer than
``max_digits - decimal_places`` integer digits (PostgreSQL refuses more with "numeric field
overflow"), and ``decimal_places`` decimals (PostgreSQL rounds more away silently; we round
first, half to even, so that what is echoed and kept is what will be stored).
"""

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from brokers.models import BrokerAccount, Order, PaperPrice
from strategies.models import Subscription


@dataclass(frozen=True)
class Bound:
    limit: Decimal  # every value's magnitude is below it
    places: int

    @classmethod
    def of(cls, model, name: str) -> "Bound":
        column = model._meta.get_field(name)
        return cls(
            Decimal(10) ** (column.max_digits - column.decimal_places), column.decimal_places
        )

    def fits(self, value: Decimal) -> bool:
        return value.is_finite() and abs(value) < self.limit

    def rounded(self, value: Decimal) -> Decimal | None:
        """``value`` rounded to the column's decimals, or None when it does not fit."""
        if not self.fits(value):
            return None  # checked first: quantize refuses results beyond 28 digits
        if value.as_tuple().exponent >= -self.places:
            return value
        # The rounding named, not the thread's context's: ccxt (decimal_to_precision) sets
        # the context's rounding for its own use and leaves it set.
        value = value.quantize(Decimal(1).scaleb(-self.places), rounding=ROUND_HALF_EVEN)
        return value if abs(value) < self.limit else None  # 999...9.999999999 rounds up


# The intent's numbers (signals.intent), each by the column it ends up in. Exit-rule
# percentages and amounts are what a subscription's own take profit / stop loss holds.
FIELDS = {
    "quantity": Bound.of(Order, "quantity"),
    "price": Bound.of(PaperPrice, "price"),
    "signal_price": Bound.of(PaperPrice, "price"),
    "limit_price": Bound.of(Order, "limit_price"),
    "stop_price": Bound.of(Order, "stop_price"),
    "trail_amount": Bound.of(Order, "trail_amount"),
    "trail_percent": Bound.of(Order, "trail_percent"),
}
for _rule, _price in (("take_profit", "limit_price"), ("stop_loss", "stop_price")):
    FIELDS |= {
        f"{_rule}.price": Bound.of(Order, _price),
        f"{_rule}.limit_price": Bound.of(Order, "limit_price"),
        f"{_rule}.percent": Bound.of(Subscription, f"{_rule}_value"),
        f"{_rule}.amount": Bound.of(Subscription, f"{_rule}_value"),
        f"{_rule}.trail_amount": Bound.of(Order, "trail_amount"),
        f"{_rule}.trail_percent": Bound.of(Order, "trail_percent"),
    }
# An order's value (quantity x price) moves an account's cash.
NOTIONAL = Bound.of(BrokerAccount, "cash")
# Numbers kept only in a signal's payload (options fields): the strictest column's bound,
# so no accepted number is out of every column's range.
ANY = min(FIELDS.values(), key=lambda bound: bound.limit)


def bound(name: str) -> Bound:
    return FIELDS.get(name, ANY)


_NOUNS = {
    "quantity": "quantity the broker account can hold",
    "notional": "amount the broker account can hold",
}


def exceeds(value: Decimal, *, field: str, what: str) -> str | None:
    """The trading reason when ``value``, computed by the pipeline (a sized quantity, a
    bracket price, an order's value as ``field="notional"``), does not fit its column;
    None when it does."""
    limit = NOTIONAL if field == "notional" else bound(field)
    if limit.fits(value):
        return None
    noun = _NOUNS.get(field, "price an order can hold")
    return f"{what} {float(value):.4g} exceeds the largest {noun} (less than {limit.limit:f})"
