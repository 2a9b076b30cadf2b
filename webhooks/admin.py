"""Operator admin for webhooks. The password's digest and its encrypted copy are never
rendered; a webhook is created (and its URL shown once) in the dashboard, not here."""

from django.contrib import admin

from accounts.admin_forms import SameOrganizationForm
from webhooks.models import Webhook
from webhooks.services import webhook_validate


class WebhookForm(SameOrganizationForm):
    def validate_rules(self, instance: Webhook) -> None:
        webhook_validate(webhook=instance)


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    form = WebhookForm
    list_display = ["name", "organization", "strategy", "asset_class", "enabled", "created_at"]
    list_filter = ["enabled", "asset_class", "limit_to_tradingview", "limit_to_trendspider"]
    list_select_related = ["organization", "strategy"]
    search_fields = ["name", "=id", "organization__name", "organization__slug"]
    raw_id_fields = ["organization", "strategy"]
    exclude = ["password_digest", "password_encrypted"]
    readonly_fields = ["id", "created_at", "password_rotated_at"]

    def has_add_permission(self, request) -> bool:
        return False
