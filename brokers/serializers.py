from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.serializers import CamelModelSerializer
from brokers.models import BrokerAccount, Order, Position

# Broker credentials are accepted as an object of strings (apiKey, secretKey, ...), stored
# encrypted, and never returned: reads only say whether some are set.
CREDENTIALS_MAX_KEYS = 20


class BrokerAccountSerializer(CamelModelSerializer):
    class Meta:
        model = BrokerAccount
        fields = ["id", "name", "broker", "mode", "status", "status_message", "initial_cash"]
        fields += ["cash", "created_at", "credentials", "has_credentials"]
        read_only_fields = ["status", "status_message", "cash", "created_at"]

    credentials = serializers.DictField(
        child=serializers.CharField(max_length=4096, allow_blank=True),
        write_only=True,
        required=False,
        help_text="Broker API credentials; write-only, stored encrypted, never returned.",
    )
    has_credentials = serializers.SerializerMethodField()

    def get_has_credentials(self, account: BrokerAccount) -> bool:
        return bool(account.credentials_encrypted)

    def validate_credentials(self, value: dict) -> dict:
        if len(value) > CREDENTIALS_MAX_KEYS:
            raise serializers.ValidationError("Too many credential fields.")
        return value

    def validate_initial_cash(self, value):
        if value <= 0:
            raise serializers.ValidationError("Must be greater than zero.")
        return value

    def create(self, validated_data):
        validated_data.setdefault("cash", validated_data.get("initial_cash", 100000))
        return super().create(validated_data)


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
    symbol = serializers.CharField(required=False, max_length=40)
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
    symbol = serializers.CharField(required=False, max_length=40)
