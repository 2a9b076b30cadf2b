"""Order quantities as each asset class trades them.

Always rounded DOWN (toward zero): a sized order never exceeds what the sizing asked for.
A quantity that rounds away returns 0, which the pipeline reports ("quantity rounds to
zero") instead of sending a zero-size order.

Steps:
- stocks: whole shares; with fractional on, millionths of a share (6 decimals). Alpaca
  accepts up to 9, our Order rows keep 8; at 6 a step is worth under a cent below
  $10,000 a share, and the same rule fits every broker we plan to add.
- options and futures: whole contracts, fractional or not.
- crypto: the instrument's quantity_step, else 1e-8 (a satoshi for BTC).
An instrument step above one whole unit (a board lot of 100 shares, say) wins; a step of
1, the Instrument default for shares, does not turn fractional shares off.
"""

from decimal import ROUND_DOWN, Decimal, InvalidOperation

FRACTIONAL_SHARE_STEP = Decimal("0.000001")
DEFAULT_CRYPTO_STEP = Decimal("0.00000001")
WHOLE = Decimal("1")


def quantity_step(
    *, asset_class: str, step: Decimal | None = None, fractional: bool = False
) -> Decimal:
    """The smallest quantity increment an order in this asset class may use."""
    if asset_class == "crypto":
        return step if step and step > 0 else DEFAULT_CRYPTO_STEP
    unit = FRACTIONAL_SHARE_STEP if asset_class == "stock" and fractional else WHOLE
    if step and step > WHOLE:
        return step
    return unit


def quantity_round(
    *,
    quantity: Decimal,
    asset_class: str,
    step: Decimal | None = None,
    fractional: bool = False,
) -> Decimal:
    """Round ``quantity`` down to a tradable size; 0 when it rounds away."""
    try:
        quantity = Decimal(quantity)
    except (InvalidOperation, TypeError, ValueError):
        raise ValueError(f"Not a quantity: {quantity!r}")
    if not quantity.is_finite():
        raise ValueError(f"Not a quantity: {quantity!r}")
    if quantity <= 0:
        return Decimal("0")
    unit = quantity_step(asset_class=asset_class, step=step, fractional=fractional)
    steps = (quantity / unit).to_integral_value(rounding=ROUND_DOWN)
    rounded = steps * unit
    if rounded <= 0:
        return Decimal("0")
    # Present it at the unit's precision (3, not 3.000000; 0.5 BTC as 0.50000000).
    return rounded.quantize(unit.normalize(), rounding=ROUND_DOWN) if unit < 1 else rounded
