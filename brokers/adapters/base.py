"""The one interface every broker adapter implements. The pipeline talks only to this;
calls to outside HTTP APIs live only in adapters."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from brokers.vocabulary import (  # noqa: F401  (re-exported: the adapters' vocabulary)
    IMMEDIATE_ONLY,
    ORDER_FIELDS,
    Leg,
    OrderType,
    Side,
    TimeInForce,
    order_fields,
)

if TYPE_CHECKING:
    from brokers.models import BrokerAccount


class BrokerError(Exception):
    """The broker refused or failed. ``transient`` errors (timeouts, 429, 5xx) are retried
    with backoff; the others end the order in a terminal state with this text."""

    transient = False


class TransientBrokerError(BrokerError):
    transient = True


class OrderRejected(BrokerError):
    pass


class NoPriceAvailable(BrokerError):
    def __init__(self, symbol: str):
        super().__init__(f"No price available for {symbol}: send a price in the signal.")


@dataclass(frozen=True)
class AccountSnapshot:
    equity: Decimal
    cash: Decimal
    buying_power: Decimal


@dataclass(frozen=True)
class BrokerPosition:
    symbol: str
    quantity: Decimal  # negative when short
    average_price: Decimal


@dataclass(frozen=True)
class Quote:
    symbol: str
    bid: Decimal | None
    ask: Decimal | None
    last: Decimal | None

    @property
    def mid(self) -> Decimal | None:
        if self.bid is not None and self.ask is not None:
            return (self.bid + self.ask) / 2
        return self.last


@dataclass(frozen=True)
class InstrumentInfo:
    """One tradable instrument as a broker lists it (for refreshing the ticker database)."""

    symbol: str
    name: str
    asset_class: str  # a brokers.models.AssetClass value
    exchange: str
    quantity_step: Decimal
    tradable: bool


@dataclass(frozen=True)
class BracketSpec:
    take_profit_limit_price: Decimal | None = None
    stop_loss_stop_price: Decimal | None = None
    stop_loss_limit_price: Decimal | None = None
    stop_loss_trail_amount: Decimal | None = None
    stop_loss_trail_percent: Decimal | None = None


@dataclass(frozen=True)
class OrderRequest:
    client_order_id: str  # deterministic: a resubmission with the same id is the same order
    symbol: str
    side: str  # Side
    quantity: Decimal
    order_type: str = "market"  # OrderType
    time_in_force: str = "day"  # TimeInForce
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trail_amount: Decimal | None = None
    trail_percent: Decimal | None = None
    extended_hours: bool = False
    reference_price: Decimal | None = None  # the signal's price, for market fills on paper
    bracket: BracketSpec | None = None


@dataclass(frozen=True)
class OrderUpdate:
    client_order_id: str
    broker_order_id: str
    status: str  # one of brokers.models.Order.Status values
    filled_quantity: Decimal = Decimal("0")
    filled_avg_price: Decimal | None = None
    error: str = ""
    filled_at: datetime | None = None
    # A bracket leg describes itself, so order_apply_update can record a leg the pipeline
    # never created (the broker made it when the parent was placed).
    leg: str = ""  # "", take_profit, stop_loss
    parent_client_order_id: str = ""
    symbol: str = ""
    side: str = ""
    quantity: Decimal | None = None
    order_type: str = ""
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    # The bracket legs created with this order (submit_order / get_order of a parent).
    legs: tuple[OrderUpdate, ...] = ()


LEG_SUFFIXES = {"take_profit": "tp", "stop_loss": "sl"}
MAX_CLIENT_ORDER_ID = 128  # Alpaca's limit, and Order.client_order_id's


def bracket_leg_client_order_id(parent_client_order_id: str, leg: str) -> str:
    """The deterministic client order id of a bracket leg ("take_profit" / "stop_loss"),
    always within the 128 characters brokers accept."""
    suffix = LEG_SUFFIXES[leg]
    candidate = f"{parent_client_order_id}-{suffix}"
    if len(candidate) <= MAX_CLIENT_ORDER_ID:
        return candidate
    digest = hashlib.sha256(parent_client_order_id.encode()).hexdigest()[:48]
    return f"{digest}-{suffix}"


class BrokerAdapter(ABC):
    def __init__(self, account: BrokerAccount):
        self.account = account

    @abstractmethod
    def get_account(self) -> AccountSnapshot: ...

    @abstractmethod
    def get_position(self, symbol: str) -> BrokerPosition | None:
        """The open position in ``symbol``, or None when flat."""

    @classmethod
    def get_positions(cls, accounts: list[BrokerAccount], symbol: str) -> dict:
        """Positions in ``symbol`` of many accounts of this broker at once, by account id
        (an account missing from the answer is read on its own with get_position). The
        default reads none: only a broker that can answer in one call overrides it."""
        return {}

    @abstractmethod
    def get_quote(self, symbol: str) -> Quote | None: ...

    @abstractmethod
    def submit_order(self, request: OrderRequest) -> OrderUpdate:
        """Idempotent on ``request.client_order_id``: a second call returns the first order."""

    @abstractmethod
    def cancel_open_orders(self, symbol: str) -> int:
        """Cancel the account's open orders in ``symbol``; return how many."""

    @abstractmethod
    def get_order(self, client_order_id: str) -> OrderUpdate | None: ...

    def cancel_order(self, client_order_id: str) -> OrderUpdate | None:
        """Cancel one open order; its state afterwards, None if the broker does not know it."""
        raise NotImplementedError

    def list_positions(self) -> list[BrokerPosition]:
        """Every open position (for reconciliation)."""
        raise NotImplementedError

    def list_open_orders(self) -> list[OrderUpdate]:
        """The broker's open orders (for reconciliation and adoption of orders we placed
        but did not record)."""
        raise NotImplementedError

    def test_connection(self) -> str:
        """Check the credentials without trading: a short description of the account, or
        a BrokerError with a reason a trader understands."""
        raise NotImplementedError

    def list_instruments(self) -> list[InstrumentInfo]:
        """What the broker trades (for the ticker database)."""
        raise NotImplementedError

    @classmethod
    def credential_fields(cls) -> list[tuple[str, str, bool]]:
        """(name, label, secret) of each credential the account form asks for."""
        raise NotImplementedError

    def record_price(self, symbol: str, price: Decimal) -> list[OrderUpdate]:
        """A price seen in a signal. Real brokers ignore it; the paper broker's market uses
        it, and returns the updates of the resting orders that price filled (or canceled,
        one-cancels-other). The paper market is per organization: one call acts on every
        paper account of the account's organization."""
        return []
