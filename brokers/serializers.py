from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.serializers import CamelModelSerializer
from brokers.adapters.market_data import market_data_sources
from brokers.models import BrokerAccount, Order, Position, PositionDrift
from brokers.services import (
    ACCOUNT_RANGES,
    CREDENTIAL_MAX_LENGTH,
    broker_account_create,
    broker_account_update,
)
from config.api_fields import StrictCharField


class BrokerAccountSerializer(CamelModelSerializer):
    """The rules (initial cash above 0, credentials' size) are broker_account_validate's
    (brokers.services), which the admin calls too. Credentials are accepted as an object
    of strings (apiKey, secretKey, ...), stored encrypted, and never returned: reads only
    say whether some are set."""

    class Meta:
        model = BrokerAccount
        fields = ["id", "name", "broker", "mode", "status", "status_message", "initial_cash"]
        fields += ["cash", "created_at", "credentials", "has_credentials", "market_data_source"]
        read_only_fields = ["status", "status_message", "cash", "created_at"]
        ranges = ACCOUNT_RANGES

    credentials = serializers.DictField(
        child=StrictCharField(max_length=CREDENTIAL_MAX_LENGTH, allow_blank=True),
        write_only=True,
        required=False,
        help_text="Broker API credentials; write-only, stored encrypted, never returned.",
    )
    has_credentials = serializers.SerializerMethodField()
    market_data_source = serializers.ChoiceField(
        choices=market_data_sources(),
        required=False,
        help_text="Paper accounts: where a market order without a price gets its quote.",
    )

    def get_has_credentials(self, account: BrokerAccount) -> bool:
        return bool(account.credentials_encrypted)

    def create(self, validated_data: dict) -> BrokerAccount:
        return broker_account_create(**validated_data)

    def update(self, instance: BrokerAccount, validated_data: dict) -> BrokerAccount:
        return broker_account_update(account=instance, **validated_data)


class OrderErrorCodeMixin(serializers.Serializer):
    error_code = serializers.SerializerMethodField(
        help_text="BROKER_ERROR when the broker refused or failed this order (text in error)."
    )

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_error_code(self, order: Order) -> str | None:
        failed = order.status in (Order.Status.REJECTED, Order.Status.FAILED)
        return "BROKER_ERROR" if failed else None


class OrderSerializer(OrderErrorCodeMixin, CamelModelSerializer):
    class Meta:
        model = Order
        fields = ["id", "account_id", "signal_id", "subscription_id", "parent_id", "leg"]
        fields += ["symbol", "side", "quantity", "order_type", "limit_price", "stop_price"]
        fields += ["trail_amount", "trail_percent", "time_in_force", "extended_hours"]
        fields += ["client_order_id", "broker_order_id", "status", "filled_quantity"]
        fields += ["filled_avg_price", "error", "error_code", "approval_expires_at"]
        fields += ["created_at", "submitted_at", "filled_at", "updated_at"]
        read_only_fields = fields

    account_id = serializers.UUIDField(read_only=True)
    signal_id = serializers.UUIDField(read_only=True, allow_null=True)
    subscription_id = serializers.UUIDField(read_only=True, allow_null=True)
    parent_id = serializers.UUIDField(read_only=True, allow_null=True)


class OrderBriefSerializer(OrderErrorCodeMixin, CamelModelSerializer):
    """An order as a signal's per-account result shows it."""

    class Meta:
        model = Order
        fields = ["id", "leg", "symbol", "side", "quantity", "status", "filled_quantity"]
        fields += ["filled_avg_price", "error", "error_code"]
        read_only_fields = fields


class OrderFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Order.Status.choices, required=False)
    accountId = serializers.UUIDField(required=False)  # noqa: N815 (query parameter name)
    signalId = serializers.UUIDField(required=False)  # noqa: N815
    symbol = StrictCharField(required=False, max_length=40)
    since = serializers.DateTimeField(required=False)


class PositionSerializer(CamelModelSerializer):
    class Meta:
        model = Position
        fields = ["account_id", "symbol", "quantity", "side", "average_price", "updated_at"]
        read_only_fields = fields

    account_id = serializers.UUIDField(read_only=True)
    side = serializers.SerializerMethodField()

    @extend_schema_field(serializers.ChoiceField(choices=["long", "short", "flat"]))
    def get_side(self, position: Position) -> str:
        if position.quantity > 0:
            return "long"
        return "short" if position.quantity < 0 else "flat"


class PositionFilterSerializer(serializers.Serializer):
    accountId = serializers.UUIDField(required=False)  # noqa: N815
    symbol = StrictCharField(required=False, max_length=40)


class PositionDriftSerializer(CamelModelSerializer):
    """A difference reconciliation found between our position and the broker's."""

    class Meta:
        model = PositionDrift
        fields = ["id", "account_id", "symbol", "ours", "brokers", "detected_at"]
        fields += ["resolved_at", "action"]
        read_only_fields = fields

    account_id = serializers.UUIDField(read_only=True)


class PositionDriftFilterSerializer(serializers.Serializer):
    accountId = serializers.UUIDField(required=False)  # noqa: N815
    open = serializers.BooleanField(required=False, help_text="true: only unresolved drifts")
