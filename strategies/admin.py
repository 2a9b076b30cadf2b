from django.contrib import admin

from accounts.admin_forms import SameOrganizationForm
from strategies.models import Strategy, Subscription
from strategies.services import strategy_validate, subscription_validate


class StrategyForm(SameOrganizationForm):
    def validate_rules(self, instance: Strategy) -> None:
        strategy_validate(strategy=instance)


class SubscriptionForm(SameOrganizationForm):
    def validate_rules(self, instance: Subscription) -> None:
        subscription_validate(subscription=instance)


class SubscriptionInline(admin.TabularInline):
    model = Subscription
    form = SubscriptionForm
    extra = 0
    raw_id_fields = ["organization", "account"]
    fields = ["account", "organization", "enabled", "auto_submit", "allowed_sides"]
    show_change_link = True


@admin.register(Strategy)
class StrategyAdmin(admin.ModelAdmin):
    form = StrategyForm
    list_display = ["name", "organization", "asset_class", "enabled", "created_at"]
    list_filter = ["asset_class", "enabled"]
    list_select_related = ["organization"]
    search_fields = ["name", "organization__name", "organization__slug"]
    raw_id_fields = ["organization"]
    readonly_fields = ["id", "created_at"]
    inlines = [SubscriptionInline]


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    form = SubscriptionForm
    list_display = [
        "strategy",
        "account",
        "organization",
        "enabled",
        "auto_submit",
        "allowed_sides",
        "sizing_method",
    ]
    list_filter = ["enabled", "auto_submit", "allowed_sides", "sizing_method"]
    list_select_related = ["strategy", "account", "organization"]
    search_fields = ["strategy__name", "account__name", "organization__name"]
    raw_id_fields = ["organization", "strategy", "account"]
    readonly_fields = ["id", "created_at"]
