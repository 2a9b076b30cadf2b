import uuid
from decimal import Decimal

from django.db import models
from django.utils import timezone

from accounts.tenancy import OrgOwnedModel
from brokers.models import MONEY, AssetClass
from brokers.vocabulary import (
    STOP_LOSS_ORDER_TYPES,
    SUBSCRIPTION_ORDER_TYPES,
    OrderType,
    TimeInForce,
    choices_of,
)

ORDER_TYPE_CHOICES = choices_of(SUBSCRIPTION_ORDER_TYPES)
STOP_LOSS_TYPE_CHOICES = choices_of(STOP_LOSS_ORDER_TYPES)


class Strategy(OrgOwnedModel):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True, default="")
    asset_class = models.CharField(
        max_length=8, choices=AssetClass.choices, default=AssetClass.STOCK
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "strategies"
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="uniq_strategy_name")
        ]

    def __str__(self) -> str:
        return self.name


class Subscription(OrgOwnedModel):
    """A broker account following a strategy, with the settings that turn a signal into
    that account's order."""

    class Sides(models.TextChoices):
        BOTH = "both", "Long and short"
        LONG = "long", "Long only"
        SHORT = "short", "Short only"

    class Sizing(models.TextChoices):
        FIXED_QUANTITY = "fixed_quantity", "Fixed quantity"
        DOLLAR_AMOUNT = "dollar_amount", "Dollar amount"
        PERCENT_OF_EQUITY = "percent_of_equity", "Percent of equity"
        RISK_DOLLAR_AMOUNT = "risk_dollar_amount", "Risk dollar amount (needs a stop loss)"

    # brokers.vocabulary's, of which the fields below offer subsets.
    OrderType = OrderType
    TimeInForce = TimeInForce

    class ExitKind(models.TextChoices):
        NONE = "none", "None"
        PERCENT = "percent", "Percent"
        AMOUNT = "amount", "Dollar amount"
        PRICE = "price", "Price"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    strategy = models.ForeignKey(Strategy, on_delete=models.CASCADE, related_name="subscriptions")
    account = models.ForeignKey(
        "brokers.BrokerAccount", on_delete=models.CASCADE, related_name="subscriptions"
    )
    enabled = models.BooleanField(default=True)
    auto_submit = models.BooleanField(default=True)
    approval_timeout_seconds = models.PositiveIntegerField(default=300)
    allowed_sides = models.CharField(max_length=5, choices=Sides.choices, default=Sides.BOTH)
    use_signal_quantity = models.BooleanField(default=True)
    signal_quantity_multiplier = models.DecimalField(**MONEY, default=Decimal("1"))
    sizing_method = models.CharField(
        max_length=20, choices=Sizing.choices, default=Sizing.FIXED_QUANTITY
    )
    sizing_value = models.DecimalField(**MONEY, default=Decimal("1"))
    exit_percent_of_position = models.DecimalField(**MONEY, default=Decimal("50"))
    fractional = models.BooleanField(default=False)
    allow_add = models.BooleanField(default=False)
    entry_order_type = models.CharField(
        max_length=10, choices=ORDER_TYPE_CHOICES, default=OrderType.MARKET
    )
    exit_order_type = models.CharField(
        max_length=10, choices=ORDER_TYPE_CHOICES, default=OrderType.MARKET
    )
    entry_time_in_force = models.CharField(
        max_length=3, choices=TimeInForce.choices, default=TimeInForce.DAY
    )
    exit_time_in_force = models.CharField(
        max_length=3, choices=TimeInForce.choices, default=TimeInForce.DAY
    )
    # Limit orders: price = reference price +/- this offset (amount, in the quote currency).
    limit_price_offset = models.DecimalField(**MONEY, default=Decimal("0"))
    take_profit_kind = models.CharField(
        max_length=8, choices=ExitKind.choices, default=ExitKind.NONE
    )
    take_profit_value = models.DecimalField(**MONEY, null=True, blank=True)
    stop_loss_kind = models.CharField(max_length=8, choices=ExitKind.choices, default=ExitKind.NONE)
    stop_loss_value = models.DecimalField(**MONEY, null=True, blank=True)
    stop_loss_type = models.CharField(
        max_length=14, choices=STOP_LOSS_TYPE_CHOICES, default=OrderType.STOP
    )
    # Largest absolute position this subscription may hold in one symbol (None = no limit).
    max_position_size = models.DecimalField(**MONEY, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["strategy", "account"], name="uniq_subscription")
        ]
        indexes = [models.Index(fields=["organization", "strategy"])]

    def __str__(self) -> str:
        return f"{self.account} <- {self.strategy}"
