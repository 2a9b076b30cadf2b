import uuid

from django.db import models
from django.utils import timezone

from accounts.tenancy import OrgOwnedModel
from brokers.models import AssetClass


class Webhook(OrgOwnedModel):
    """A URL-secret webhook: POST /trading/webhook/<uuid>/<password>.

    The password is stored twice, never in plaintext: a SHA-256 digest that requests are
    checked against in constant time, and a Fernet-encrypted copy so the owner can see the
    full URL again in the dashboard (as TradersPost users expect). "Generate New URL"
    replaces both; the uuid never changes.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    strategy = models.ForeignKey(
        "strategies.Strategy", on_delete=models.CASCADE, related_name="webhooks"
    )
    enabled = models.BooleanField(default=True)
    asset_class = models.CharField(
        max_length=8, choices=AssetClass.choices, default=AssetClass.STOCK
    )
    password_digest = models.CharField(max_length=64)
    password_encrypted = models.TextField()
    limit_to_tradingview = models.BooleanField(default=False)
    limit_to_trendspider = models.BooleanField(default=False)
    allowed_ips = models.JSONField(default=list, blank=True)  # IPs or CIDRs; empty = any
    allowed_tickers = models.JSONField(default=list, blank=True)  # empty = allow any ticker
    duplicate_window_seconds = models.PositiveIntegerField(default=20)  # 0 = off
    created_at = models.DateTimeField(default=timezone.now)
    password_rotated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name
