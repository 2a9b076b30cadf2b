"""Our Position rows of an account at a network broker mirror the broker's positions (what
the API and the dashboard show): they are set from what the broker reports, after a fill
the trade stream or the poller sees and on every reconciliation pass, never computed from
our fills. (The paper broker's rows are its own book: brokers.ledger keeps them.)"""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone

from brokers.adapters import get_adapter
from brokers.adapters.base import BrokerPosition
from brokers.models import BrokerAccount, Position

ZERO = Decimal("0")


def position_set(*, account: BrokerAccount, symbol: str, quantity, average_price) -> Position:
    position, _ = Position.objects.update_or_create(
        account=account,
        symbol=symbol,
        defaults={
            "organization_id": account.organization_id,
            "quantity": quantity,
            "average_price": average_price,
            "updated_at": timezone.now(),
        },
    )
    return position


def position_sync(*, account: BrokerAccount, symbol: str) -> Position | None:
    """Our Position row of ``account`` in ``symbol`` set to what the broker holds, under
    the broker's name for the symbol (the one its list of positions uses). Nothing held:
    a row we have goes to zero; no row is made for it."""
    held = get_adapter(account).get_position(symbol)
    if held is None:
        Position.objects.filter(account=account, symbol=symbol).exclude(quantity=0).update(
            quantity=ZERO, average_price=ZERO, updated_at=timezone.now()
        )
        return None
    return position_set(
        account=account,
        symbol=held.symbol or symbol,
        quantity=held.quantity,
        average_price=held.average_price,
    )


def positions_mirror(
    *, account: BrokerAccount, held: list[BrokerPosition], rows: list, listed_at
) -> int:
    """Our Position ``rows`` of ``account`` (all of them) set to ``held`` (the broker's
    whole list, read at ``listed_at``): a row of a symbol no longer held goes to zero, kept
    with its realized P&L. A row written since the list was read (the stream saw a fill
    meanwhile) is newer than the list and left alone. Writes only what differs; returns
    how many rows it wrote."""
    theirs = {p.symbol: (p.quantity, p.average_price) for p in held}
    mine = {row.symbol: (row.quantity, row.average_price) for row in rows}
    newer = {row.symbol for row in rows if row.updated_at > listed_at}
    wanted = {symbol: (ZERO, ZERO) for symbol, (quantity, _) in mine.items() if quantity}
    wanted.update(theirs)
    changed = 0
    for symbol, (quantity, average) in sorted(wanted.items()):
        if symbol not in newer and mine.get(symbol) != (quantity, average):
            position_set(account=account, symbol=symbol, quantity=quantity, average_price=average)
            changed += 1
    return changed
