from rest_framework import serializers

from accounts.serializers import CamelModelSerializer, OrgRelatedField, camel
from brokers.models import BrokerAccount
from strategies.models import Strategy, Subscription


class StrategySerializer(CamelModelSerializer):
    class Meta:
        model = Strategy
        fields = ["id", "name", "description", "asset_class", "enabled", "created_at"]
        read_only_fields = ["created_at"]
        # The (organization, name) constraint is checked in validate_name: the organization
        # never comes from the body, so DRF's generated validator cannot check it.
        validators: list = []

    def validate_name(self, value: str) -> str:
        taken = Strategy.objects.for_org(self.organization).filter(name=value)
        if self.instance is not None:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise serializers.ValidationError("A strategy with this name already exists.")
        return value


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
POSITIVE = ["signal_quantity_multiplier", "sizing_value", "take_profit_value"]
POSITIVE += ["stop_loss_value", "max_position_size"]


class SubscriptionSerializer(CamelModelSerializer):
    class Meta:
        model = Subscription
        fields = ["id", "strategy_id", "account_id", *SUBSCRIPTION_SETTINGS, "created_at"]
        read_only_fields = ["created_at"]
        validators: list = []
        extra_kwargs = {
            "approval_timeout_seconds": {"min_value": 10, "max_value": 86400},
            "limit_price_offset": {"min_value": 0},
        }

    strategy_id = OrgRelatedField(source="strategy", queryset=Strategy.objects.all())
    account_id = OrgRelatedField(source="account", queryset=BrokerAccount.objects.all())

    def validate(self, attrs: dict) -> dict:
        errors = {}
        for name in POSITIVE:
            value = attrs.get(name)
            if value is not None and value <= 0:
                errors[camel(name)] = "Must be greater than zero."
        percent = attrs.get("exit_percent_of_position")
        if percent is not None and not 0 < percent <= 100:
            errors["exitPercentOfPosition"] = "Must be more than 0 and at most 100."
        for leg in ("take_profit", "stop_loss"):
            kind = attrs.get(f"{leg}_kind", getattr(self.instance, f"{leg}_kind", "none"))
            value = attrs.get(f"{leg}_value", getattr(self.instance, f"{leg}_value", None))
            if kind != Subscription.ExitKind.NONE and value is None:
                errors[camel(f"{leg}_value")] = f"Required when {camel(leg)}Kind is {kind}."
        errors.update(self._duplicate_error(attrs))
        if errors:
            raise serializers.ValidationError(errors)
        return attrs

    def _duplicate_error(self, attrs: dict) -> dict:
        strategy = attrs.get("strategy", getattr(self.instance, "strategy", None))
        account = attrs.get("account", getattr(self.instance, "account", None))
        taken = Subscription.objects.filter(strategy=strategy, account=account)
        if self.instance is not None:
            taken = taken.exclude(pk=self.instance.pk)
        if strategy is not None and account is not None and taken.exists():
            return {"accountId": "This account already follows this strategy."}
        return {}


class SubscriptionFilterSerializer(serializers.Serializer):
    strategyId = serializers.UUIDField(required=False)  # noqa: N815 (query parameter name)
    accountId = serializers.UUIDField(required=False)  # noqa: N815
