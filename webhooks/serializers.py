from rest_framework import serializers

from accounts.serializers import CamelModelSerializer, OrgRelatedField
from config.api_fields import StrictBooleanField, StrictCharField
from signals.models import RejectedAttempts
from strategies.models import Strategy
from webhooks.models import Webhook
from webhooks.services import (
    RESTRICTIONS_MAX,
    WEBHOOK_RANGES,
    webhook_create,
    webhook_update,
    webhook_url,
)


class WebhookSerializer(CamelModelSerializer):
    """A webhook's settings. ``url`` carries the secret password, so it is shown only to
    those who may manage webhooks (admin/owner, or a key with the manage scope). The
    rules (restriction lists, the plan's webhook count) are webhooks.services', which the
    admin calls too."""

    class Meta:
        model = Webhook
        fields = ["id", "name", "strategy_id", "enabled", "asset_class"]
        fields += ["limit_to_tradingview", "limit_to_trendspider", "allowed_ips"]
        fields += ["allowed_tickers", "duplicate_window_seconds", "url", "created_at"]
        fields += ["password_rotated_at"]
        read_only_fields = ["created_at", "password_rotated_at"]
        extra_kwargs = {"asset_class": {"required": False}}
        ranges = WEBHOOK_RANGES

    strategy_id = OrgRelatedField(source="strategy", queryset=Strategy.objects.all())
    limit_to_tradingview = StrictBooleanField(required=False)
    limit_to_trendspider = StrictBooleanField(required=False)
    allowed_ips = serializers.ListField(
        child=StrictCharField(max_length=50),
        required=False,
        max_length=RESTRICTIONS_MAX,
        help_text="IP addresses or CIDR networks allowed to post; empty = any.",
    )
    allowed_tickers = serializers.ListField(
        child=StrictCharField(max_length=40),
        required=False,
        max_length=RESTRICTIONS_MAX,
        help_text="Tickers this webhook accepts; empty = any.",
    )
    url = serializers.SerializerMethodField(
        help_text="The webhook URL including its password; only shown to managers."
    )

    def get_fields(self):
        fields = super().get_fields()
        fields["limitToTradingView"] = fields.pop("limitToTradingview")
        fields["limitToTrendSpider"] = fields.pop("limitToTrendspider")
        return fields

    def get_url(self, webhook: Webhook) -> str | None:
        if not self.context.get("show_url"):
            return None
        return webhook_url(webhook=webhook, request=self.context.get("request"))

    def create(self, validated_data: dict) -> Webhook:
        return webhook_create(**validated_data)

    def update(self, instance: Webhook, validated_data: dict) -> Webhook:
        return webhook_update(webhook=instance, **validated_data)


class RejectedAttemptsSerializer(CamelModelSerializer):
    """One minute of requests to a webhook without its right password, counted per answer
    code, with a bounded sample (docs/webhooks.md, "Failed attempts")."""

    class Meta:
        model = RejectedAttempts
        fields = ["id", "message_code", "window_start", "count", "first_seen_at"]
        fields += ["last_seen_at", "source_ips", "sample_body", "sample_content_type"]
        read_only_fields = fields

    id = serializers.UUIDField(help_text="The logId every answer this row counts carried.")
    message_code = serializers.CharField(
        help_text="invalid-password, too-many-requests (shed) or post-required."
    )
    window_start = serializers.DateTimeField(help_text="The minute counted (UTC, second 0).")
    count = serializers.IntegerField(help_text="Requests with this code in this minute.")
    source_ips = serializers.ListField(
        child=serializers.CharField(),
        help_text=f"The first {RejectedAttempts.SAMPLE_IPS_MAX} distinct source addresses.",
    )
    sample_body = serializers.CharField(
        help_text=f"The first request's body, at most {RejectedAttempts.SAMPLE_BODY_MAX_CHARS} "
        "characters."
    )


# What webhook_validate accepts in allowedIps, as the schema can say it: an address, or an
# IPv4 network in CIDR form (IPv6 networks are accepted too; the schema leaves them out).
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4_NETWORK = rf"^({_OCTET}\.){{3}}{_OCTET}/(3[0-2]|[12]?[0-9])$"
ALLOWED_IP = {
    "anyOf": [
        {"type": "string", "format": "ipv4"},
        {"type": "string", "format": "ipv6"},
        {"type": "string", "pattern": IPV4_NETWORK},
    ]
}


def webhook_body_rules() -> dict:
    """What webhook_validate accepts in allowedIps, for the request bodies (added by
    config.api_schema; allowedTickers' non-blank rule comes with its field type)."""
    return {"properties": {"allowedIps": {"items": ALLOWED_IP}}}


class WebhookUrlSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    url = serializers.CharField(help_text="The new URL; the previous one stops working.")


# The UTM ingest endpoint's bodies, for the OpenAPI schema only: the view parses the raw
# body itself (webhooks.utm) so it can list every bad field at once in UTM's envelope.


class UtmExitRuleSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["PERCENT", "PRICE", "AMOUNT"])
    value = serializers.FloatField(min_value=0, help_text="Greater than 0.")


class UtmExitRulesSerializer(serializers.Serializer):
    stopLoss = UtmExitRuleSerializer(required=False)  # noqa: N815 (the seed's field name)
    takeProfit = UtmExitRuleSerializer(required=False)  # noqa: N815


class UtmSignalRequestSerializer(serializers.Serializer):
    symbol = serializers.CharField(max_length=40, help_text='Stock symbol (e.g., "AAPL").')
    action = serializers.ChoiceField(
        choices=["openLong", "openShort", "closeLong", "closeShort"]
        + ["reverseToLong", "reverseToShort"]
    )
    accountId = serializers.CharField(help_text="Target account ID.")  # noqa: N815
    quantity = serializers.FloatField(required=False, help_text="Read as quantityType says.")
    quantityType = serializers.ChoiceField(  # noqa: N815
        choices=["FIXED", "PERCENT_EQUITY", "DOLLAR_AMOUNT", "PERCENT_POSITION"],
        required=False,
        help_text="Default FIXED.",
    )
    orderType = serializers.ChoiceField(  # noqa: N815
        choices=["MARKET", "LIMIT", "STOP", "STOP_LIMIT"],
        required=False,
        help_text="Default MARKET.",
    )
    limitPrice = serializers.FloatField(  # noqa: N815
        required=False, help_text="Required for LIMIT and STOP_LIMIT."
    )
    stopPrice = serializers.FloatField(  # noqa: N815
        required=False, help_text="Required for STOP and STOP_LIMIT."
    )
    timeInForce = serializers.ChoiceField(  # noqa: N815
        choices=["DAY", "GTC", "IOC", "FOK"], required=False, help_text="Default DAY."
    )
    exitRules = UtmExitRulesSerializer(required=False)  # noqa: N815
    strategyId = serializers.CharField(required=False, help_text="Associated strategy.")  # noqa: N815
    comment = serializers.CharField(required=False, max_length=500)
    clientSignalId = serializers.CharField(  # noqa: N815
        required=False,
        max_length=200,
        help_text="TradeRelay extension: idempotency key in the body (the Idempotency-Key "
        "header takes precedence). A repeat returns the first answer.",
    )
    price = serializers.FloatField(
        required=False,
        help_text="TradeRelay extension: reference price for sizing and paper fills.",
    )


class UtmAcceptedSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    signalId = serializers.UUIDField()  # noqa: N815
    status = serializers.ChoiceField(choices=["PENDING"])
    message = serializers.CharField()
    logId = serializers.UUIDField()  # noqa: N815


class UtmErrorDetailSerializer(serializers.Serializer):
    field = serializers.CharField()
    message = serializers.CharField()


class UtmErrorSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    error = serializers.ChoiceField(
        choices=[
            "INVALID_API_KEY",
            "VALIDATION_ERROR",
            "ACCOUNT_NOT_FOUND",
            "MODE_MISMATCH",
            "RATE_LIMIT_EXCEEDED",
            "ORGANIZATION_SUSPENDED",
            "METHOD_NOT_ALLOWED",
        ]
    )
    message = serializers.CharField()
    details = UtmErrorDetailSerializer(many=True)
    logId = serializers.UUIDField(  # noqa: N815
        required=False, help_text="The signal log row; absent when the key was not valid."
    )
