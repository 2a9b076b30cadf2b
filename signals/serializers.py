from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.serializers import CamelModelSerializer
from brokers.models import Order
from brokers.serializers import OrderBriefSerializer, OrderSerializer
from config.api_fields import StrictCharField
from signals.models import Signal, SignalResult

BROKER_ERROR = "BROKER_ERROR"
BROKER_FAILURES = (Order.Status.REJECTED, Order.Status.FAILED)


class SignalSerializer(CamelModelSerializer):
    """A row of the signal log: every request, accepted or rejected."""

    class Meta:
        model = Signal
        fields = ["id", "log_id", "dialect", "status", "ticker", "action", "received_at"]
        fields += ["webhook_id", "api_key_id", "strategy_id", "account_id", "message_code"]
        fields += ["message", "error", "error_code", "duplicate_of_id", "completed_at"]
        read_only_fields = fields

    webhook_id = serializers.UUIDField(read_only=True, allow_null=True)
    api_key_id = serializers.UUIDField(read_only=True, allow_null=True)
    strategy_id = serializers.UUIDField(read_only=True, allow_null=True)
    account_id = serializers.UUIDField(read_only=True, allow_null=True)
    duplicate_of_id = serializers.UUIDField(read_only=True, allow_null=True)
    error_code = serializers.SerializerMethodField(
        help_text="BROKER_ERROR when a broker refused or failed an order of this signal "
        "(the broker's text is in error and on the order); PROCESSING_ERROR for other "
        "failures; the rejection code (messageCode) for a rejected request."
    )

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_error_code(self, signal: Signal) -> str | None:
        if signal.status == Signal.Status.REJECTED:
            return signal.message_code or None
        if signal.status != Signal.Status.FAILED:
            return None
        broker_failed = getattr(signal, "has_broker_failure", None)
        if broker_failed is None:
            broker_failed = (
                signal.orders.filter(status__in=BROKER_FAILURES).exists()
                or signal.results.filter(error_code=SignalResult.BROKER_ERROR).exists()
            )
        return BROKER_ERROR if broker_failed else "PROCESSING_ERROR"


class SignalResultSerializer(CamelModelSerializer):
    """What the signal meant for one account, with the orders placed for it."""

    class Meta:
        model = SignalResult
        fields = ["account_id", "subscription_id", "status", "reason", "error_code", "orders"]
        read_only_fields = fields

    account_id = serializers.UUIDField(read_only=True)
    subscription_id = serializers.UUIDField(read_only=True, allow_null=True)
    error_code = serializers.SerializerMethodField(
        help_text="BROKER_ERROR when this account's broker refused or failed (its text in "
        "reason): that account's outcome only, whatever the other accounts' were."
    )
    orders = serializers.SerializerMethodField()

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_error_code(self, result: SignalResult) -> str | None:
        if result.status != SignalResult.Status.FAILED:
            return None
        if result.error_code:
            return result.error_code
        orders = [o for o in self.context["orders"] if o.account_id == result.account_id]
        if any(o.status in BROKER_FAILURES for o in orders):
            return BROKER_ERROR
        return "PROCESSING_ERROR"

    @extend_schema_field(OrderBriefSerializer(many=True))
    def get_orders(self, result: SignalResult) -> list:
        orders = [o for o in self.context["orders"] if o.account_id == result.account_id]
        return OrderBriefSerializer(orders, many=True).data


class SignalTimingsSerializer(serializers.Serializer):
    receivedAt = serializers.DateTimeField(source="received_at")  # noqa: N815
    processingStartedAt = serializers.DateTimeField(  # noqa: N815
        source="processing_started_at", allow_null=True
    )
    plannedAt = serializers.DateTimeField(source="planned_at", allow_null=True)  # noqa: N815
    submittedAt = serializers.DateTimeField(source="submitted_at", allow_null=True)  # noqa: N815
    filledAt = serializers.DateTimeField(source="filled_at", allow_null=True)  # noqa: N815
    completedAt = serializers.DateTimeField(source="completed_at", allow_null=True)  # noqa: N815


class SignalDetailSerializer(SignalSerializer):
    """One signal with its outcome: per-account results, every order, and timings.
    A broker refusal shows as status FAILED with messageCode BROKER_ERROR and the broker's
    text in ``error``, and on the order itself."""

    class Meta(SignalSerializer.Meta):
        fields = [*SignalSerializer.Meta.fields, "payload", "intent", "raw_body", "source_ip"]
        fields += ["idempotency_key", "attempts", "results", "orders", "timings"]
        read_only_fields = fields

    payload = serializers.JSONField(read_only=True, allow_null=True)
    intent = serializers.JSONField(read_only=True, allow_null=True)
    results = serializers.SerializerMethodField()
    orders = serializers.SerializerMethodField()
    timings = SignalTimingsSerializer(source="*", read_only=True)

    def _orders(self, signal: Signal) -> list[Order]:
        if "orders" not in self.context:
            self.context["orders"] = list(signal.orders.order_by("created_at"))
        return self.context["orders"]

    @extend_schema_field(SignalResultSerializer(many=True))
    def get_results(self, signal: Signal) -> list:
        context = {**self.context, "orders": self._orders(signal)}
        results = signal.results.order_by("created_at")
        return SignalResultSerializer(results, many=True, context=context).data

    @extend_schema_field(OrderSerializer(many=True))
    def get_orders(self, signal: Signal) -> list:
        return OrderSerializer(self._orders(signal), many=True).data


class SignalFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Signal.Status.choices, required=False)
    ticker = StrictCharField(required=False, max_length=40)
    dialect = serializers.ChoiceField(choices=Signal.Dialect.choices, required=False)
    since = serializers.DateTimeField(required=False)
    accountId = serializers.UUIDField(required=False)  # noqa: N815 (query parameter name)
    webhookId = serializers.UUIDField(required=False)  # noqa: N815
