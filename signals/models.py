import uuid

from django.db import models
from django.utils import timezone

from accounts.tenancy import OrgOwnedModel


class Signal(OrgOwnedModel):
    """The signal log: one row per request that reached a known webhook or API key,
    accepted or rejected. ``log_id`` is the logId every answer carries; ``id`` is the
    signal id of an accepted request (a duplicate answers with the first one's id)."""

    class Dialect(models.TextChoices):
        TRADERSPOST = "traderspost", "TradersPost webhook"
        UTM = "utm", "UTM signal API"

    class Status(models.TextChoices):
        PENDING = "PENDING", "Pending"
        PROCESSING = "PROCESSING", "Processing"
        COMPLETED = "COMPLETED", "Completed"
        FAILED = "FAILED", "Failed"
        REJECTED = "REJECTED", "Rejected"
        DUPLICATE = "DUPLICATE", "Duplicate"

    # Every accepted webhook is one INSERT into this table, and each index is maintained on
    # every INSERT: the foreign keys below carry no index of their own where a composite
    # index in Meta covers them or where a partial one (only the rows that have a value)
    # does the job.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    log_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(
        "accounts.Organization",
        on_delete=models.CASCADE,
        related_name="signal_set",
        db_index=False,
    )
    dialect = models.CharField(max_length=12, choices=Dialect.choices)
    webhook = models.ForeignKey(
        "webhooks.Webhook",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="signals",
        db_index=False,
    )
    api_key = models.ForeignKey(
        "accounts.ApiKey",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="signals",
        db_index=False,
    )
    strategy = models.ForeignKey(
        "strategies.Strategy", on_delete=models.SET_NULL, null=True, blank=True
    )
    # UTM signals name one account; webhook signals fan out to the strategy's subscriptions.
    account = models.ForeignKey(
        "brokers.BrokerAccount", on_delete=models.SET_NULL, null=True, blank=True, db_index=False
    )
    received_at = models.DateTimeField(default=timezone.now)
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    content_type = models.CharField(max_length=200, blank=True, default="")
    raw_body = models.TextField(blank=True, default="")  # bounded by the ingress
    body_hash = models.CharField(max_length=64, blank=True, default="")
    payload = models.JSONField(null=True, blank=True)  # normalized echo (TradersPost)
    intent = models.JSONField(null=True, blank=True)  # signals.intent.SignalIntent
    ticker = models.CharField(max_length=40, blank=True, default="")
    action = models.CharField(max_length=20, blank=True, default="")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    message_code = models.CharField(max_length=64, blank=True, default="")
    message = models.TextField(blank=True, default="")
    duplicate_of = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="duplicates",
        db_index=False,
    )
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    processing_started_at = models.DateTimeField(null=True, blank=True)
    planned_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    filled_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["organization", "-received_at"]),
            models.Index(fields=["webhook", "received_at"]),
            # The sweep looks only at unfinished signals; finished ones leave this index.
            models.Index(
                fields=["status", "received_at"],
                name="signal_unfinished_idx",
                condition=models.Q(status__in=["PENDING", "PROCESSING"]),
            ),
            models.Index(
                fields=["api_key"],
                name="signal_api_key_idx",
                condition=models.Q(api_key__isnull=False),
            ),
            models.Index(
                fields=["account"],
                name="signal_account_idx",
                condition=models.Q(account__isnull=False),
            ),
            models.Index(
                fields=["duplicate_of"],
                name="signal_duplicate_of_idx",
                condition=models.Q(duplicate_of__isnull=False),
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "api_key", "idempotency_key"],
                name="uniq_signal_idempotency_key",
                condition=models.Q(idempotency_key__isnull=False),
            )
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.ticker} ({self.status})"


class RejectedAttempts(OrgOwnedModel):
    """Requests to a webhook without its right password, counted instead of logged one by
    one: one row per webhook, answer code (invalid-password, too-many-requests once they
    are shed, post-required) and minute, with how many came, when the first and the last
    did, and a small sample (the first one's body, the first few source addresses).

    Anyone who knows a webhook's uuid (it is not secret) can send these; a Signal row each
    (up to 64 KiB of body) let 200 attempts write 12 M characters. This costs at most
    SAMPLE_BODY_MAX_CHARS + SAMPLE_IPS_MAX addresses per webhook, code and minute, and
    the owner still sees that it happened (GET /api/v1/webhooks/{id}/rejected-attempts/).
    ``id`` is derived from (webhook, code, minute) (signals.services.rejected_attempt_id):
    the logId of every answer it counts, known before the row is written."""

    SAMPLE_BODY_MAX_CHARS = 1024
    SAMPLE_IPS_MAX = 5

    id = models.UUIDField(primary_key=True, editable=False)
    organization = models.ForeignKey(
        "accounts.Organization",
        on_delete=models.CASCADE,
        related_name="rejectedattempts_set",
        db_index=False,
    )
    webhook = models.ForeignKey(
        "webhooks.Webhook",
        on_delete=models.CASCADE,
        related_name="rejected_attempts",
        db_index=False,  # the (webhook, -window_start) index covers it
    )
    message_code = models.CharField(max_length=64)
    window_start = models.DateTimeField()  # the minute, to the second 0
    count = models.PositiveIntegerField(default=0)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    # " 198.51.100.7 203.0.113.9 ": space-delimited so one UPDATE can test membership
    # and append (signals.services.rejected_attempt_count); source_ips is the list.
    sample_ips = models.TextField(blank=True, default="")
    sample_ip_count = models.PositiveSmallIntegerField(default=0)
    sample_body = models.TextField(blank=True, default="")
    sample_content_type = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        verbose_name_plural = "rejected attempts"
        indexes = [
            models.Index(fields=["organization", "-window_start"]),
            models.Index(fields=["webhook", "-window_start"]),
        ]

    @property
    def log_id(self):
        return self.id

    @property
    def source_ips(self) -> list[str]:
        return self.sample_ips.split()

    def __str__(self) -> str:
        return f"{self.count} x {self.message_code} at {self.window_start:%Y-%m-%d %H:%M}"


class SignalResult(OrgOwnedModel):
    """What one signal meant for one account: ordered, ignored (with why), waiting for
    approval, or failed (with the error)."""

    class Status(models.TextChoices):
        ORDERED = "ordered", "Ordered"
        IGNORED = "ignored", "Ignored"
        PENDING_APPROVAL = "pending_approval", "Pending approval"
        FAILED = "failed", "Failed"

    BROKER_ERROR = "BROKER_ERROR"

    signal = models.ForeignKey(Signal, on_delete=models.CASCADE, related_name="results")
    subscription = models.ForeignKey(
        "strategies.Subscription", on_delete=models.SET_NULL, null=True, blank=True
    )
    account = models.ForeignKey("brokers.BrokerAccount", on_delete=models.CASCADE)
    status = models.CharField(max_length=16, choices=Status.choices)
    reason = models.TextField(blank=True, default="")
    # BROKER_ERROR when the account's broker refused or failed it before any order existed
    # (no adapter for its broker, a quote or position it could not give).
    error_code = models.CharField(max_length=16, blank=True, default="")
    # What the pipeline needs to (re)submit this account's orders later (after a crash or an
    # approval) that the Order rows do not hold: the signal's reference price and each
    # leg's bracket (take profit / stop loss) spec.
    plan = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["signal", "account"], name="uniq_signal_result")
        ]
