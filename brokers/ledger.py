"""The paper broker's books: cash and positions moved by fills.

Callers hold the account row lock (``select_for_update``) for the whole transaction, so a
fill is applied once and no concurrent fill is lost; the position row is locked too, for
anyone who updates positions without the account lock.
"""

import uuid
from decimal import ROUND_HALF_EVEN, Decimal

from django.db import connection
from django.utils import timezone

from brokers.models import BrokerAccount, LedgerEntry, PaperOrder, Position
from config import compiled
from config.compiled import CompiledQuery

MONEY_STEP = Decimal("0.00000001")  # MONEY's 8 decimal places
ZERO = Decimal("0")
# Every fill locks its position: compiled once per process (config.compiled).
_LOCK_POSITION = CompiledQuery(
    lambda account_id, symbol: Position.objects.select_for_update().filter(
        account_id=account_id, symbol=symbol
    ),
    account_id=uuid.UUID,
    symbol=str,
)


def position_after_fill(
    *, quantity: Decimal, average_price: Decimal, delta: Decimal, price: Decimal
) -> tuple[Decimal, Decimal, Decimal]:
    """(quantity, average price, realized P&L) after a signed fill ``delta`` at ``price``.

    Adding on the open side averages the price in; reducing keeps the average and
    realizes the closed part; crossing zero (a flip) realizes the whole old position and
    opens the rest at the fill price."""
    if quantity == 0 or (quantity > 0) == (delta > 0):
        new_quantity = quantity + delta
        total = abs(quantity) * average_price + abs(delta) * price
        return new_quantity, _money(total / abs(new_quantity)), ZERO
    closed = min(abs(delta), abs(quantity))
    direction = 1 if quantity > 0 else -1
    realized = _money(closed * (price - average_price) * direction)
    new_quantity = quantity + delta
    if new_quantity == 0:
        return new_quantity, ZERO, realized
    if (new_quantity > 0) == (quantity > 0):
        return new_quantity, average_price, realized
    return new_quantity, price, realized


def ledger_apply_fill(
    *,
    account: BrokerAccount,
    symbol: str,
    side: str,
    quantity: Decimal,
    price: Decimal,
    client_order_id: str = "",
) -> Position:
    """Move cash and the position for one fill and record it (with the P&L it realized)
    as a LedgerEntry. ``account`` must be locked by the caller."""
    position = _LOCK_POSITION.first(account_id=account.pk, symbol=symbol)
    if position is None:
        position, _ = Position.objects.select_for_update().get_or_create(
            account=account,
            symbol=symbol,
            defaults={"organization_id": account.organization_id},
        )
    delta = quantity if side == "buy" else -quantity
    closed = _closed_by(position.quantity, delta)
    new_quantity, average, realized = position_after_fill(
        quantity=position.quantity, average_price=position.average_price, delta=delta, price=price
    )
    position.quantity = new_quantity
    position.average_price = average
    position.realized_pnl += realized
    position.updated_at = timezone.now()
    compiled.update(
        Position,
        where={"pk": position.pk},
        quantity=position.quantity,
        average_price=position.average_price,
        realized_pnl=position.realized_pnl,
        updated_at=position.updated_at,
    )
    # Buying spends cash, selling (short sales included) brings it in.
    account.cash = _money(account.cash - delta * price)
    compiled.update(BrokerAccount, where={"pk": account.pk}, cash=account.cash)
    compiled.insert(
        LedgerEntry(
            organization_id=account.organization_id,
            account_id=account.pk,
            client_order_id=client_order_id,
            symbol=symbol,
            side=side,
            quantity=quantity,
            price=price,
            closed_quantity=closed,
            realized_pnl=realized,
            cash_after=account.cash,
            filled_at=position.updated_at,
        )
    )
    return position


def _closed_by(quantity: Decimal, delta: Decimal) -> Decimal:
    """How much of an open ``quantity`` a signed fill ``delta`` closes."""
    if quantity == 0 or (quantity > 0) == (delta > 0):
        return ZERO
    return min(abs(delta), abs(quantity))


def _money(value: Decimal) -> Decimal:
    # Named, not the context's: ccxt leaves the thread's decimal rounding changed.
    return value.quantize(MONEY_STEP, rounding=ROUND_HALF_EVEN)


def paper_order_insert(order: PaperOrder) -> None:
    """Book a new paper order: an INSERT built once per shape (config.compiled), as every
    paper submission makes one. The caller holds the account lock."""
    compiled.insert(order)


def paper_commit_relaxed() -> None:
    """Let the current paper-book transaction commit without waiting for its WAL flush.
    Only for a booking in a transaction of its own (an approval's; the pipeline books a
    batch inside the transaction that records the answers, whose commit is durable).

    Safe because of the order lifecycle around it: the booking is followed by the commit of
    our record of the answer, which waits for the flush and so makes the booking durable
    too (WAL is written in order). A database crash in between loses a booking whose answer
    we never recorded, and our order, still "submitting", is sent again with the same
    client order id, as to a broker that lost it."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
