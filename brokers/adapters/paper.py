"""The paper broker: our own simulated broker, played as if it were a remote one.

Its book (PaperOrder), cash (BrokerAccount.cash) and positions (Position) are separate
from our Order rows; only client_order_id links them, exactly as with a real broker, and
``execution.records.order_apply_update`` brings our rows in line with what it reports.

Its market (DESIGN.md, "The paper broker's market"): per organization, the last price a
signal carried for a symbol, else a fill price. Every change to an account's book runs in
one transaction holding that account's row lock, so two workers never double-apply a fill.
Rules a reader may look for:
- market: fills at once at the request's reference price, else (for an account with a
  market data source) the source's quote, ask for a buy and bid for a sell, else the
  last price, else NoPriceAvailable.
- limit: marketable -> fills at once at the market price (the better one); no price known
  -> fills at its limit; otherwise rests and fills at its limit when a price crosses it.
- stop: fills at the crossing price (it becomes a market order); already crossed at
  submission -> fills at once. stop_limit: once crossed it is a limit order.
- trailing_stop: trails the best price seen since it went live (hwm) by trail_amount or
  trail_percent and fills at the price that crosses the trail.
- ioc / fok orders that cannot fill at once are canceled instead of resting.
- bracket legs are held until the entry fills, then rest with the filled quantity; one
  filling cancels the other, and a leg never closes more than the position still open.
- no sessions: "day" orders do not expire.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from brokers.adapters.base import (
    AccountSnapshot,
    BracketSpec,
    BrokerAdapter,
    BrokerPosition,
    InstrumentInfo,
    NoPriceAvailable,
    OrderRejected,
    OrderRequest,
    OrderUpdate,
    Quote,
    bracket_leg_client_order_id,
)
from brokers.adapters.market_data import fill_price, source_quote
from brokers.ledger import ledger_apply_fill, paper_commit_relaxed, paper_order_insert
from brokers.models import BrokerAccount, Instrument, PaperOrder, PaperPrice, Position
from brokers.selectors import (
    paper_account_lock,
    paper_order_find,
    paper_price_get,
    paper_prices_get,
    paper_resting_accounts,
    position_get,
)
from brokers.vocabulary import IMMEDIATE_ONLY, ORDER_FIELDS, OrderType, Side, order_fields

LIVE = (PaperOrder.Status.OPEN, PaperOrder.Status.HELD)
# PaperOrder has every order field but extended hours (the paper market has no sessions).
PAPER_FIELDS = tuple(name for name in ORDER_FIELDS if name != "extended_hours")
# What a report of an order says about it besides its state (bracket legs describe
# themselves: the lifecycle may record a leg it never created).
REPORTED_FIELDS = ("symbol", "side", "quantity", "order_type", "limit_price", "stop_price")


class PaperAdapter(BrokerAdapter):
    def get_account(self) -> AccountSnapshot:
        account = BrokerAccount.objects.get(pk=self.account.pk)
        positions = list(Position.objects.filter(account=account).exclude(quantity=0))
        prices = paper_prices_get(
            organization_id=account.organization_id, symbols=[p.symbol for p in positions]
        )
        # A position with no market price yet is valued at its cost.
        value = sum(
            (p.quantity * prices.get(p.symbol, p.average_price) for p in positions),
            Decimal("0"),
        )
        equity = account.cash + value
        # Informational: the paper broker does not enforce buying power (no margin model).
        return AccountSnapshot(equity=equity, cash=account.cash, buying_power=max(equity, 0))

    def get_position(self, symbol: str) -> BrokerPosition | None:
        position = position_get(account_id=self.account.pk, symbol=symbol)
        return _position(position, symbol)

    @classmethod
    def get_positions(cls, accounts: list[BrokerAccount], symbol: str) -> dict:
        rows = Position.objects.filter(account__in=[a.pk for a in accounts], symbol=symbol)
        found = {row.account_id: row for row in rows}
        return {account.pk: _position(found.get(account.pk), symbol) for account in accounts}

    def get_quote(self, symbol: str) -> Quote | None:
        quote = _source_quote(self.account, symbol)
        if quote is not None:
            return quote
        last = paper_price_get(organization_id=self.account.organization_id, symbol=symbol)
        if last is None:
            return None
        return Quote(symbol=symbol, bid=last, ask=last, last=last)

    def submit_order(self, request: OrderRequest) -> OrderUpdate:
        _validate(request)
        organization_id = self.account.organization_id
        # The market price is written outside the account's lock. In the pipeline's batch
        # it is already the market (phase 1 recorded it), so this only reads; a price
        # first learnt from a fill below can make a batch hold the price row until it
        # commits, which other batches of the same signal (other accounts) wait for
        # without a cycle: one signal per organization and ticker runs at a time (its
        # lane), and its batches hold disjoint accounts.
        if request.reference_price is not None and request.reference_price > 0:
            _price_set(organization_id, request.symbol, request.reference_price)
        last = _market_last(self.account, request)
        # Inside the caller's transaction when it has one (the pipeline's batch, which
        # records the answers in the same commit), else a short one of its own; no
        # savepoint, as nothing in here raises after a write (the price check is done
        # above; the account lock makes the client id lookup and the insert one step).
        alone = not connection.in_atomic_block
        with transaction.atomic(savepoint=False):
            if alone:
                paper_commit_relaxed()
            account = _lock_account(self.account.pk)
            existing = _find(account, request.client_order_id)
            if existing is not None:
                return order_to_update(existing, with_legs=True)
            if request.order_type == "market" and last is None:
                unpriced = True
            else:
                unpriced = False
                order, legs = _book(account, request, last)
                self.account.cash = account.cash
        if unpriced:
            raise NoPriceAvailable(request.symbol)
        if last is None and order.filled_avg_price is not None:
            _price_set(organization_id, order.symbol, order.filled_avg_price)
        return order_to_update(order, legs=legs)

    def cancel_open_orders(self, symbol: str) -> int:
        with transaction.atomic():
            account = _lock_account(self.account.pk)
            orders = PaperOrder.objects.filter(account=account, symbol=symbol, status__in=LIVE)
            return orders.update(
                status=PaperOrder.Status.CANCELED, canceled_at=timezone.now(), error="Canceled."
            )

    def cancel_order(self, client_order_id: str) -> OrderUpdate | None:
        with transaction.atomic():
            account = _lock_account(self.account.pk)
            order = _find(account, client_order_id)
            if order is None:
                return None
            if order.status in LIVE:
                _cancel(order, "Canceled.")
                # An unfilled entry's bracket legs are held for its fill, which can no
                # longer come. (An order that filled meanwhile keeps its legs: they
                # protect the position it opened.)
                for leg in order.legs.filter(status__in=LIVE):
                    _cancel(leg, "Canceled with its entry.")
            return order_to_update(order, with_legs=order.parent_id is None)

    def get_order(self, client_order_id: str) -> OrderUpdate | None:
        order = _find(self.account, client_order_id)
        return None if order is None else order_to_update(order, with_legs=True)

    def list_positions(self) -> list[BrokerPosition]:
        rows = Position.objects.filter(account_id=self.account.pk).exclude(quantity=0)
        return [_position(row, row.symbol) for row in rows.order_by("symbol")]

    def list_open_orders(self) -> list[OrderUpdate]:
        orders = PaperOrder.objects.filter(account_id=self.account.pk, status__in=LIVE)
        return [order_to_update(o) for o in orders.select_related("parent").order_by("created_at")]

    def list_instruments(self) -> list[InstrumentInfo]:
        # The paper broker trades whatever the ticker database lists.
        return [
            InstrumentInfo(
                symbol=i.symbol,
                name=i.name,
                asset_class=i.asset_class,
                exchange=i.exchange,
                quantity_step=i.quantity_step,
                tradable=i.active,
            )
            for i in Instrument.objects.order_by("symbol", "asset_class")
        ]

    @classmethod
    def credential_fields(cls) -> list[tuple[str, str, bool]]:
        return []

    def test_connection(self) -> str:
        snapshot = self.get_account()
        return f"Paper account {self.account.name}, {snapshot.cash} cash"

    def record_price(self, symbol: str, price: Decimal) -> list[OrderUpdate]:
        return paper_market_record_price(
            organization_id=self.account.organization_id, symbol=symbol, price=price
        )


def _position(position: Position | None, symbol: str) -> BrokerPosition | None:
    if position is None or position.quantity == 0:
        return None
    return BrokerPosition(
        symbol=symbol, quantity=position.quantity, average_price=position.average_price
    )


def paper_market_record_price(*, organization_id, symbol: str, price: Decimal) -> list[OrderUpdate]:
    """A price for the organization's paper market: remember it, then fill whatever resting
    orders it crosses, in every paper account of the organization."""
    if price is None or not price.is_finite() or price <= 0:
        return []
    _price_upsert(organization_id, symbol, price)
    updates: list[OrderUpdate] = []
    # One short transaction per account, in a fixed order, so no two workers deadlock.
    resting = paper_resting_accounts(organization_id=organization_id, symbol=symbol, price=price)
    for account_id in sorted(resting, key=str):
        updates.extend(_cross_resting(account_id, symbol, price))
    return updates


def order_to_update(
    order: PaperOrder, *, with_legs: bool = False, legs: list[PaperOrder] | None = None
) -> OrderUpdate:
    """The broker's report of ``order``; its bracket legs from ``legs``, or read from the
    book when ``with_legs``."""
    if legs is None and with_legs and order.parent_id is None:
        legs = list(order.legs.order_by("leg"))
    return OrderUpdate(
        client_order_id=order.client_order_id,
        broker_order_id=str(order.pk),
        status=order.status,
        filled_quantity=order.filled_quantity,
        filled_avg_price=order.filled_avg_price,
        error=order.error,
        filled_at=order.filled_at,
        leg=order.leg,
        parent_client_order_id=order.parent.client_order_id if order.parent_id else "",
        **order_fields(order, REPORTED_FIELDS),
        legs=tuple(order_to_update(leg) for leg in legs or ()),
    )


def paper_orders_cancel_all(*, account: BrokerAccount, reason: str) -> int:
    """Cancel every live order of ``account``; the caller holds the account lock."""
    orders = PaperOrder.objects.filter(account=account, status__in=LIVE)
    return orders.update(
        status=PaperOrder.Status.CANCELED, canceled_at=timezone.now(), error=reason
    )


# --- validation and booking -------------------------------------------------------------


def _validate(request: OrderRequest) -> None:
    problems = []
    if request.side not in Side.values:
        problems.append(f"side must be buy or sell, not {request.side!r}")
    if request.quantity is None or not request.quantity > 0:
        problems.append("quantity must be positive")
    if request.order_type not in OrderType.values:
        problems.append(f"unknown order type {request.order_type!r}")
    if request.order_type in ("limit", "stop_limit") and not _positive(request.limit_price):
        problems.append(f"a {request.order_type} order needs a positive limit price")
    if request.order_type in ("stop", "stop_limit") and not _positive(request.stop_price):
        problems.append(f"a {request.order_type} order needs a positive stop price")
    if request.order_type == "trailing_stop" and not (
        _positive(request.trail_amount) or _positive(request.trail_percent)
    ):
        problems.append("a trailing stop needs a trail amount or a trail percent")
    if request.bracket is not None:
        problems.extend(_bracket_problems(request.side, request.bracket))
    if problems:
        raise OrderRejected("Order rejected: " + "; ".join(problems) + ".")


def _bracket_problems(side: str, bracket: BracketSpec) -> list[str]:
    take, stop = bracket.take_profit_limit_price, bracket.stop_loss_stop_price
    trails = bracket.stop_loss_trail_amount or bracket.stop_loss_trail_percent
    if take is None and stop is None and not trails:
        return ["a bracket needs a take profit or a stop loss"]
    if take is None or stop is None:
        return []
    # A buy's take profit sits above its stop loss; a sell's below.
    if (side == "buy" and take <= stop) or (side == "sell" and take >= stop):
        return [f"take profit {take} and stop loss {stop} are on the wrong sides"]
    return []


def _positive(value: Decimal | None) -> bool:
    return value is not None and value.is_finite() and value > 0


def _lock_account(account_id) -> BrokerAccount:
    account = paper_account_lock(account_id=account_id)
    if account is None:
        raise BrokerAccount.DoesNotExist(f"no broker account {account_id}")
    return account


def _find(account: BrokerAccount, client_order_id: str) -> PaperOrder | None:
    return paper_order_find(account_id=account.pk, client_order_id=client_order_id)


def _book(
    account: BrokerAccount, request: OrderRequest, last: Decimal | None
) -> tuple[PaperOrder, list[PaperOrder]]:
    """Book the order (and its bracket legs) in its final state, and apply its fill if it
    fills at once. The caller holds the account lock and found no order with this client
    id: every PaperOrder insert takes that lock, so the unique client id cannot refuse
    this one."""
    order = PaperOrder(**_order_fields(account, request))
    price = _price_now(order, last)
    if price is not None:
        _mark_filled(order, order.quantity, price)
    elif order.time_in_force in IMMEDIATE_ONLY:
        _mark_canceled(order, f"Not marketable; {order.time_in_force} orders do not rest.")
    paper_order_insert(order)
    legs = _book_legs(account, order, request.bracket, price)
    if price is not None:
        ledger_apply_fill(
            account=account,
            symbol=order.symbol,
            side=order.side,
            quantity=order.quantity,
            price=price,
            client_order_id=order.client_order_id,
        )
    return order, legs


def _order_fields(account: BrokerAccount, request: OrderRequest) -> dict:
    return {
        "organization_id": account.organization_id,
        "account": account,
        "client_order_id": request.client_order_id,
        **order_fields(request, PAPER_FIELDS),
        "status": PaperOrder.Status.OPEN,
    }


def _book_legs(
    account: BrokerAccount, parent: PaperOrder, bracket: BracketSpec | None, fill_price
) -> list[PaperOrder]:
    """Legs rest at once when the parent filled at booking; else they wait, held."""
    if bracket is None:
        return []
    common = {
        "organization_id": account.organization_id,
        "account": account,
        "parent": parent,
        "symbol": parent.symbol,
        "side": "sell" if parent.side == "buy" else "buy",
        "quantity": parent.quantity,
        "time_in_force": parent.time_in_force,
        "status": PaperOrder.Status.HELD if fill_price is None else PaperOrder.Status.OPEN,
        "high_water_mark": fill_price,
    }
    legs = []
    if bracket.take_profit_limit_price is not None:
        legs.append(
            PaperOrder(
                **common,
                leg="take_profit",
                client_order_id=bracket_leg_client_order_id(parent.client_order_id, "take_profit"),
                order_type="limit",
                limit_price=bracket.take_profit_limit_price,
            )
        )
    stop_loss = _stop_loss_fields(bracket)
    if stop_loss:
        legs.append(
            PaperOrder(
                **common,
                **stop_loss,
                leg="stop_loss",
                client_order_id=bracket_leg_client_order_id(parent.client_order_id, "stop_loss"),
            )
        )
    return PaperOrder.objects.bulk_create(legs)


def _stop_loss_fields(bracket: BracketSpec) -> dict:
    if bracket.stop_loss_trail_amount or bracket.stop_loss_trail_percent:
        return {
            "order_type": "trailing_stop",
            "trail_amount": bracket.stop_loss_trail_amount,
            "trail_percent": bracket.stop_loss_trail_percent,
        }
    if bracket.stop_loss_stop_price is None:
        return {}
    if bracket.stop_loss_limit_price is not None:
        return {
            "order_type": "stop_limit",
            "stop_price": bracket.stop_loss_stop_price,
            "limit_price": bracket.stop_loss_limit_price,
        }
    return {"order_type": "stop", "stop_price": bracket.stop_loss_stop_price}


# --- execution ----------------------------------------------------------------------------


def _market_last(account: BrokerAccount, request: OrderRequest) -> Decimal | None:
    """The price a new order meets: the signal's, else a quote from the account's market
    data source (a real quote beats a remembered one), else the organization's last one."""
    last = request.reference_price
    if last is None or last <= 0:
        last = fill_price(_source_quote(account, request.symbol), request.side)
    if last is None:
        last = paper_price_get(organization_id=account.organization_id, symbol=request.symbol)
    return last


def _source_quote(account: BrokerAccount, symbol: str) -> Quote | None:
    if not account.market_data_source:
        return None
    return source_quote(
        source=account.market_data_source, symbol=symbol, credentials=account.credentials
    )


def _price_now(order: PaperOrder, last: Decimal | None) -> Decimal | None:
    """The fill price of a new order, or None if it rests."""
    if order.order_type == "market":
        return last
    if order.order_type == "limit":
        return order.limit_price if last is None else _marketable(order, last)
    if order.order_type == "trailing_stop":
        order.high_water_mark = last
        return None
    if last is None or not _stop_crossed(order, last):
        return None
    if order.order_type == "stop":
        return last
    order.triggered_at = timezone.now()
    return _marketable(order, last)


def _marketable(order: PaperOrder, price: Decimal) -> Decimal | None:
    """A limit order facing ``price``: filled at that (better or equal) price, or None."""
    if order.side == "buy":
        return price if price <= order.limit_price else None
    return price if price >= order.limit_price else None


def _stop_crossed(order: PaperOrder, price: Decimal) -> bool:
    return price >= order.stop_price if order.side == "buy" else price <= order.stop_price


def _price_resting(order: PaperOrder, price: Decimal) -> Decimal | None:
    """The fill price of a resting order when the market prints ``price``, or None."""
    if order.order_type == "limit" or (order.order_type == "stop_limit" and order.triggered_at):
        # A resting limit is reached on the way, so it fills at its limit.
        return order.limit_price if _marketable(order, price) is not None else None
    if order.order_type == "trailing_stop":
        return _trail(order, price)
    return _price_now(order, price)


def _trail(order: PaperOrder, price: Decimal) -> Decimal | None:
    best = order.high_water_mark
    if best is None:
        best = price
    best = max(best, price) if order.side == "sell" else min(best, price)
    order.high_water_mark = best
    if order.trail_amount:
        offset = order.trail_amount
    else:
        offset = best * order.trail_percent / 100
    if order.side == "sell":
        return price if price <= best - offset else None
    return price if price >= best + offset else None


def _cross_resting(account_id, symbol: str, price: Decimal) -> list[OrderUpdate]:
    with transaction.atomic():
        account = _lock_account(account_id)
        resting = PaperOrder.objects.filter(
            account=account, symbol=symbol, status=PaperOrder.Status.OPEN
        ).order_by("created_at", "client_order_id")
        touched: dict = {}
        for order in resting:
            if order.pk in touched:  # canceled by its OCO sibling earlier in this pass
                continue
            fill_price = _price_resting(order, price)
            if fill_price is None:
                if order.order_type in ("trailing_stop", "stop_limit"):
                    order.save(update_fields=["high_water_mark", "triggered_at"])
                continue
            for changed in _fill(account, order, fill_price):
                touched[changed.pk] = changed
        return [order_to_update(order) for order in touched.values()]


def _fill(account: BrokerAccount, order: PaperOrder, price: Decimal) -> list[PaperOrder]:
    """Fill ``order`` in full at ``price``; return every order whose state changed."""
    quantity = order.quantity if order.parent_id is None else _closable(account, order)
    if quantity <= 0:
        _cancel(order, "Canceled: the position it would close is already closed.")
        return [order, *_cancel_siblings(order)]
    ledger_apply_fill(
        account=account,
        symbol=order.symbol,
        side=order.side,
        quantity=quantity,
        price=price,
        client_order_id=order.client_order_id,
    )
    _mark_filled(order, quantity, price)
    order.save()
    return [order, *_release_legs(order, price), *_cancel_siblings(order)]


def _closable(account: BrokerAccount, leg: PaperOrder) -> Decimal:
    """How much of a bracket leg still closes something: never flip via a stale leg."""
    held = (
        Position.objects.filter(account=account, symbol=leg.symbol)
        .values_list("quantity", flat=True)
        .first()
    ) or Decimal("0")
    available = held if leg.side == "sell" else -held
    return max(Decimal("0"), min(leg.quantity, available))


def _release_legs(parent: PaperOrder, price: Decimal) -> list[PaperOrder]:
    legs = list(parent.legs.filter(status=PaperOrder.Status.HELD))
    for leg in legs:
        leg.status = PaperOrder.Status.OPEN
        leg.quantity = parent.filled_quantity
        leg.high_water_mark = price
        leg.save(update_fields=["status", "quantity", "high_water_mark"])
    return legs


def _cancel_siblings(order: PaperOrder) -> list[PaperOrder]:
    if order.parent_id is None:
        return []
    siblings = list(
        PaperOrder.objects.filter(parent_id=order.parent_id, status__in=LIVE).exclude(pk=order.pk)
    )
    for sibling in siblings:
        _cancel(sibling, f"Canceled: one-cancels-other, the {order.leg} leg filled.")
    return siblings


def _mark_filled(order: PaperOrder, quantity: Decimal, price: Decimal) -> None:
    if quantity < order.quantity:
        order.error = f"Quantity reduced to the {quantity} still open in the position."
    order.status = PaperOrder.Status.FILLED
    order.filled_quantity = quantity
    order.filled_avg_price = price
    order.filled_at = timezone.now()


def _mark_canceled(order: PaperOrder, reason: str) -> None:
    order.status = PaperOrder.Status.CANCELED
    order.canceled_at = timezone.now()
    order.error = reason


def _cancel(order: PaperOrder, reason: str) -> None:
    _mark_canceled(order, reason)
    order.save()


PRICE_UPSERT_SQL = (
    "INSERT INTO brokers_paperprice (organization_id, symbol, price, updated_at) "
    "VALUES (%s, %s, %s, %s) ON CONFLICT (organization_id, symbol) "
    "DO UPDATE SET price = EXCLUDED.price, updated_at = EXCLUDED.updated_at"
)


def _price_upsert(organization_id, symbol: str, price: Decimal) -> None:
    """One statement, for a price that arrives on its own (a signal's): called outside any
    transaction, so the row lock it takes lasts only that statement."""
    values = {
        "organization": organization_id,
        "symbol": symbol,
        "price": price,
        "updated_at": timezone.now(),
    }
    params = [
        PaperPrice._meta.get_field(name).get_db_prep_save(value, connection)
        for name, value in values.items()
    ]
    with connection.cursor() as cursor:
        cursor.execute(PRICE_UPSERT_SQL, params)


def _price_set(organization_id, symbol: str, price: Decimal) -> None:
    # Read before writing: in a fan-out every account reports the same price, and a write
    # would make each worker queue on the one price row.
    if paper_price_get(organization_id=organization_id, symbol=symbol) == price:
        return
    now = timezone.now()
    updated = PaperPrice.objects.filter(organization_id=organization_id, symbol=symbol).update(
        price=price, updated_at=now
    )
    if updated:
        return
    try:
        with transaction.atomic():
            PaperPrice.objects.create(
                organization_id=organization_id, symbol=symbol, price=price, updated_at=now
            )
    except IntegrityError:  # another worker created it first; last writer wins
        PaperPrice.objects.filter(organization_id=organization_id, symbol=symbol).update(
            price=price, updated_at=now
        )
