from rest_framework import serializers

from accounts.serializers import CamelModelSerializer, OrgRelatedField
from brokers.models import BrokerAccount
from strategies.models import Strategy, Subscription
from strategies.services import (
    SUBSCRIPTION_RANGES,
    strategy_create,
    strategy_update,
    subscription_create,
    subscription_update,
)

DESCRIPTION_MAX_LENGTH = 2000  # a TextField: the API bounds what the column does not


class StrategySerializer(CamelModelSerializer):
    class Meta:
        model = Strategy
        fields = ["id", "name", "description", "asset_class", "enabled", "created_at"]
        read_only_fields = ["created_at"]
        # The (organization, name) rule is strategy_validate's: the organization never
        # comes from the body, so DRF's generated validator could not check it anyway.
        validators: list = []
        extra_kwargs = {"description": {"max_length": DESCRIPTION_MAX_LENGTH}}

    def create(self, validated_data: dict) -> Strategy:
        return strategy_create(**validated_data)

    def update(self, instance: Strategy, validated_data: dict) -> Strategy:
        return strategy_update(strategy=instance, **validated_data)


SUBSCRIPTION_SETTINGS = [
    "enabled",
    "auto_submit",
    "approval_timeout_seconds",
    "allowed_sides",
    "use_signal_quantity",
    "signal_quantity_multiplier",
    "sizing_method",
    "sizing_value",
    "exit_percent_of_position",
    "fractional",
    "allow_add",
    "entry_order_type",
    "exit_order_type",
    "entry_time_in_force",
    "exit_time_in_force",
    "limit_price_offset",
    "take_profit_kind",
    "take_profit_value",
    "stop_loss_kind",
    "stop_loss_value",
    "stop_loss_type",
    "max_position_size",
]


class SubscriptionSerializer(CamelModelSerializer):
    """Every rule on a subscription's settings is subscription_validate's
    (strategies.services), which the admin calls too."""

    class Meta:
        model = Subscription
        fields = ["id", "strategy_id", "account_id", *SUBSCRIPTION_SETTINGS, "created_at"]
        read_only_fields = ["created_at"]
        validators: list = []
        ranges = SUBSCRIPTION_RANGES

    strategy_id = OrgRelatedField(source="strategy", queryset=Strategy.objects.all())
    account_id = OrgRelatedField(source="account", queryset=BrokerAccount.objects.all())

    def create(self, validated_data: dict) -> Subscription:
        return subscription_create(**validated_data)

    def update(self, instance: Subscription, validated_data: dict) -> Subscription:
        return subscription_update(subscription=instance, **validated_data)


class SubscriptionFilterSerializer(serializers.Serializer):
    strategyId = serializers.UUIDField(required=False)  # noqa: N815 (query parameter name)
    accountId = serializers.UUIDField(required=False)  # noqa: N815


def _one_of(values) -> dict:
    return {"enum": list(values)}


def subscription_body_rules() -> dict:
    """subscription_validate's cross-field rules, as JSON Schema for the request bodies
    (added by config.api_schema). A PATCH is checked with the stored values filled in, so
    there the schema is the rule for a body that names both fields."""
    exits = [kind for kind in Subscription.ExitKind.values if kind != Subscription.ExitKind.NONE]
    sizings = [s for s in Subscription.Sizing.values if s != Subscription.Sizing.RISK_DOLLAR_AMOUNT]
    rules = [
        {
            "anyOf": [
                {"properties": {"sizingMethod": _one_of(sizings)}},
                {"required": ["stopLossKind"], "properties": {"stopLossKind": _one_of(exits)}},
            ]
        }
    ]
    for leg in ("takeProfit", "stopLoss"):
        rules.append(
            {
                "anyOf": [
                    {"properties": {f"{leg}Kind": _one_of([Subscription.ExitKind.NONE])}},
                    {
                        "required": [f"{leg}Value"],
                        "properties": {f"{leg}Value": {"type": "number"}},
                    },
                ]
            }
        )
    return {"allOf": rules}
