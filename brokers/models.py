import uuid
from decimal import Decimal

from django.db import models
from django.utils import timezone

from accounts.crypto import decrypt_json, encrypt_json
from accounts.tenancy import OrgOwnedModel
from brokers.vocabulary import Leg, OrderType, Side, TimeInForce

MONEY = {"max_digits": 20, "decimal_places": 8}


class AssetClass(models.TextChoices):
    STOCK = "stock", "Stocks"
    OPTION = "option", "Options"
    FUTURE = "future", "Futures"
    CRYPTO = "crypto", "Crypto"


class Instrument(models.Model):
    """The ticker database (shared by all tenants): what a signal may name."""

    symbol = models.CharField(max_length=40)
    name = models.CharField(max_length=200, blank=True)
    asset_class = models.CharField(max_length=8, choices=AssetClass.choices)
    exchange = models.CharField(max_length=40, blank=True)
    # Smallest tradable quantity step: 1 for shares and contracts, e.g. 0.0001 for BTC.
    quantity_step = models.DecimalField(max_digits=20, decimal_places=10, default=Decimal("1"))
    multiplier = models.DecimalField(max_digits=20, decimal_places=4, default=Decimal("1"))
    active = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["symbol", "asset_class"], name="uniq_instrument")
        ]

    def __str__(self) -> str:
        return f"{self.symbol} ({self.asset_class})"


class BrokerAccount(OrgOwnedModel):
    class Broker(models.TextChoices):
        PAPER = "paper", "Paper (built in)"
        ALPACA = "alpaca", "Alpaca"
        BINANCE = "binance", "Binance (spot, via ccxt)"
        KRAKEN = "kraken", "Kraken (spot, via ccxt)"

    class Mode(models.TextChoices):
        PAPER = "paper", "Paper"
        LIVE = "live", "Live"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        DISABLED = "disabled", "Disabled"
        ERROR = "error", "Error"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    broker = models.CharField(max_length=16, choices=Broker.choices, default=Broker.PAPER)
    mode = models.CharField(max_length=5, choices=Mode.choices, default=Mode.PAPER)
    credentials_encrypted = models.TextField(blank=True, default="")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    status_message = models.TextField(blank=True, default="")
    # Paper accounts only: where a market order without a price gets its quote ("" none,
    # "alpaca", "ccxt:<exchange id>"; brokers.adapters.market_data lists them).
    market_data_source = models.CharField(max_length=32, blank=True, default="")
    # The paper broker's ledger: starting and current cash.
    initial_cash = models.DecimalField(**MONEY, default=Decimal("100000"))
    cash = models.DecimalField(**MONEY, default=Decimal("100000"))
    created_at = models.DateTimeField(default=timezone.now)
    # When the paper ledger last started over: reconciliation counts our fills since then.
    reset_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.broker}, {self.mode})"

    @property
    def credentials(self) -> dict:
        return decrypt_json(self.credentials_encrypted)

    @credentials.setter
    def credentials(self, value: dict) -> None:
        self.credentials_encrypted = encrypt_json(value) if value else ""


class Position(OrgOwnedModel):
    """An account's position in a symbol; quantity is negative when short."""

    account = models.ForeignKey(BrokerAccount, on_delete=models.CASCADE, related_name="positions")
    symbol = models.CharField(max_length=40)
    quantity = models.DecimalField(**MONEY, default=Decimal("0"))
    average_price = models.DecimalField(**MONEY, default=Decimal("0"))
    # Profit or loss taken by the closing part of fills, cumulative over the row's life.
    realized_pnl = models.DecimalField(**MONEY, default=Decimal("0"))
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "symbol"], name="uniq_position")]
        indexes = [models.Index(fields=["organization", "account"])]

    def __str__(self) -> str:
        return f"{self.symbol} {self.quantity}"


class Order(OrgOwnedModel):
    # The vocabularies are declared once, in brokers.vocabulary.
    Leg = Leg
    Side = Side
    Type = OrderType
    TimeInForce = TimeInForce

    class Status(models.TextChoices):
        PENDING_APPROVAL = "pending_approval", "Pending approval"
        NEW = "new", "New"
        # Committed before the call to the broker: the order may or may not have reached
        # it. Only asking the broker by client order id settles it (execution.reconcile).
        SUBMITTING = "submitting", "Submitting"
        # A bracket leg waiting for its parent to fill (Alpaca's word for it).
        HELD = "held", "Held"
        SUBMITTED = "submitted", "Submitted"
        OPEN = "open", "Open"
        PARTIALLY_FILLED = "partially_filled", "Partially filled"
        FILLED = "filled", "Filled"
        CANCELED = "canceled", "Canceled"
        REJECTED = "rejected", "Rejected"
        EXPIRED = "expired", "Expired"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey(BrokerAccount, on_delete=models.CASCADE, related_name="orders")
    signal = models.ForeignKey(
        "signals.Signal", on_delete=models.SET_NULL, null=True, blank=True, related_name="orders"
    )
    subscription = models.ForeignKey(
        "strategies.Subscription", on_delete=models.SET_NULL, null=True, blank=True
    )
    parent = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="children"
    )
    leg = models.CharField(max_length=12, choices=Leg.choices, default=Leg.ENTRY)
    symbol = models.CharField(max_length=40)
    side = models.CharField(max_length=4, choices=Side.choices)
    quantity = models.DecimalField(**MONEY)
    order_type = models.CharField(max_length=14, choices=Type.choices, default=Type.MARKET)
    limit_price = models.DecimalField(**MONEY, null=True, blank=True)
    stop_price = models.DecimalField(**MONEY, null=True, blank=True)
    trail_amount = models.DecimalField(**MONEY, null=True, blank=True)
    trail_percent = models.DecimalField(**MONEY, null=True, blank=True)
    time_in_force = models.CharField(max_length=4, choices=TimeInForce.choices, default="day")
    extended_hours = models.BooleanField(default=False)
    client_order_id = models.CharField(max_length=128, unique=True)
    broker_order_id = models.CharField(max_length=128, blank=True, default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    filled_quantity = models.DecimalField(**MONEY, default=Decimal("0"))
    filled_avg_price = models.DecimalField(**MONEY, null=True, blank=True)
    error = models.TextField(blank=True, default="")
    approval_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    submitted_at = models.DateTimeField(null=True, blank=True)
    filled_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["signal", "subscription", "leg"], name="uniq_order_signal_sub_leg"
            )
        ]
        indexes = [
            models.Index(fields=["organization", "-created_at"]),
            models.Index(fields=["account", "symbol", "status"]),
        ]

    def __str__(self) -> str:
        return f"{self.side} {self.quantity} {self.symbol} ({self.status})"


OPEN_ORDER_STATUSES = (
    Order.Status.NEW,
    Order.Status.SUBMITTING,
    Order.Status.SUBMITTED,
    Order.Status.HELD,
    Order.Status.OPEN,
    Order.Status.PARTIALLY_FILLED,
)
TERMINAL_ORDER_STATUSES = (
    Order.Status.FILLED,
    Order.Status.CANCELED,
    Order.Status.REJECTED,
    Order.Status.EXPIRED,
    Order.Status.FAILED,
)


class PaperPrice(OrgOwnedModel):
    """The paper broker's market: per organization, the last price a signal carried for a
    symbol (or a fill price where none was known)."""

    symbol = models.CharField(max_length=40)
    price = models.DecimalField(**MONEY)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "symbol"], name="uniq_paper_price")
        ]

    def __str__(self) -> str:
        return f"{self.symbol} {self.price}"


class PaperOrder(OrgOwnedModel):
    """The paper broker's own book: what it was asked to do, independent of our Order
    rows (it plays a remote broker; only client_order_id links the two)."""

    class Status(models.TextChoices):
        HELD = "held", "Held (bracket leg waiting for its parent)"
        OPEN = "open", "Open (resting)"
        FILLED = "filled", "Filled"
        CANCELED = "canceled", "Canceled"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey(
        BrokerAccount, on_delete=models.CASCADE, related_name="paper_orders"
    )
    parent = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="legs"
    )
    leg = models.CharField(max_length=12, blank=True, default="")
    client_order_id = models.CharField(max_length=128)
    symbol = models.CharField(max_length=40)
    side = models.CharField(max_length=4, choices=Order.Side.choices)
    quantity = models.DecimalField(**MONEY)
    order_type = models.CharField(max_length=14, choices=Order.Type.choices)
    time_in_force = models.CharField(max_length=4, default="day")
    limit_price = models.DecimalField(**MONEY, null=True, blank=True)
    stop_price = models.DecimalField(**MONEY, null=True, blank=True)
    trail_amount = models.DecimalField(**MONEY, null=True, blank=True)
    trail_percent = models.DecimalField(**MONEY, null=True, blank=True)
    # Trailing stops: the best price seen since the order went live (Alpaca's "hwm").
    high_water_mark = models.DecimalField(**MONEY, null=True, blank=True)
    # Stop-limit orders become limit orders once their stop is crossed.
    triggered_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices)
    filled_quantity = models.DecimalField(**MONEY, default=Decimal("0"))
    filled_avg_price = models.DecimalField(**MONEY, null=True, blank=True)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    filled_at = models.DateTimeField(null=True, blank=True)
    canceled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # Idempotent submission is this constraint, not a lookup that two workers race.
            models.UniqueConstraint(
                fields=["account", "client_order_id"], name="uniq_paper_order_client_id"
            )
        ]
        indexes = [models.Index(fields=["organization", "symbol", "status"])]

    def __str__(self) -> str:
        return f"paper {self.side} {self.quantity} {self.symbol} ({self.status})"


class LedgerEntry(OrgOwnedModel):
    """One fill as the paper ledger applied it, with the P&L it realized.

    Positions keep only a running total of realized P&L, so P&L by day, an account's
    equity over time and a strategy's wins and losses need each fill kept: this is that
    history, written in the same transaction as the cash and position it moved. It links
    to our Order by ``client_order_id`` only, exactly as a real broker's fill report would.
    """

    account = models.ForeignKey(
        BrokerAccount, on_delete=models.CASCADE, related_name="ledger_entries"
    )
    client_order_id = models.CharField(max_length=128, blank=True, default="")
    symbol = models.CharField(max_length=40)
    side = models.CharField(max_length=4, choices=Order.Side.choices)
    quantity = models.DecimalField(**MONEY)
    price = models.DecimalField(**MONEY)
    # How much of an open position this fill closed (0: it only opened or added) and the
    # P&L that realized against the position's average price: a closing fill is a trade.
    closed_quantity = models.DecimalField(**MONEY, default=Decimal("0"))
    realized_pnl = models.DecimalField(**MONEY, default=Decimal("0"))
    cash_after = models.DecimalField(**MONEY)
    filled_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["account", "filled_at"]),
            models.Index(fields=["organization", "client_order_id"]),
        ]

    def __str__(self) -> str:
        return f"{self.side} {self.quantity} {self.symbol} @ {self.price}"


class PositionDrift(OrgOwnedModel):
    """A difference reconciliation found between the position our filled orders add up to
    and the one the broker reports, open until a later pass finds them equal again. We
    never trade to close a drift: the trader decides, and ``action`` says what was done."""

    class Action(models.TextChoices):
        RECORDED = "recorded", "Recorded for the trader (no order placed)"
        RESOLVED = "resolved", "Resolved: the positions agree again"

    account = models.ForeignKey(
        BrokerAccount, on_delete=models.CASCADE, related_name="position_drifts"
    )
    symbol = models.CharField(max_length=40)
    ours = models.DecimalField(**MONEY)
    brokers = models.DecimalField(**MONEY)
    detected_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    action = models.CharField(max_length=10, choices=Action.choices, default=Action.RECORDED)

    class Meta:
        constraints = [
            # At most one open drift per account and symbol: a pass updates it in place.
            models.UniqueConstraint(
                fields=["account", "symbol"],
                condition=models.Q(resolved_at__isnull=True),
                name="uniq_open_position_drift",
            )
        ]
        indexes = [models.Index(fields=["organization", "-detected_at"])]

    def __str__(self) -> str:
        return f"{self.symbol}: ours {self.ours}, broker's {self.brokers}"
