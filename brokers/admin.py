"""Operator admin for broker accounts, orders, positions and the shared ticker database.
A broker account's encrypted credentials are never rendered, not even as ciphertext."""

from django.contrib import admin

from accounts.admin_forms import SameOrganizationForm
from brokers.models import BrokerAccount, Instrument, Order, PaperOrder, PaperPrice, Position
from brokers.services import broker_account_validate


class BrokerAccountForm(SameOrganizationForm):
    def validate_rules(self, instance: BrokerAccount) -> None:
        broker_account_validate(account=instance)


@admin.register(Instrument)
class InstrumentAdmin(admin.ModelAdmin):
    list_display = ["symbol", "name", "asset_class", "exchange", "quantity_step", "active"]
    list_filter = ["asset_class", "active", "exchange"]
    search_fields = ["symbol", "name"]
    ordering = ["symbol"]


@admin.register(BrokerAccount)
class BrokerAccountAdmin(admin.ModelAdmin):
    form = BrokerAccountForm
    list_display = ["name", "organization", "broker", "mode", "status", "cash", "created_at"]
    list_filter = ["broker", "mode", "status"]
    list_select_related = ["organization"]
    search_fields = ["name", "organization__name", "organization__slug"]
    raw_id_fields = ["organization"]
    exclude = ["credentials_encrypted"]
    readonly_fields = ["id", "has_credentials", "created_at"]

    @admin.display(boolean=True, description="Credentials stored")
    def has_credentials(self, obj: BrokerAccount) -> bool:
        return bool(obj.credentials_encrypted)


@admin.register(Position)
class PositionAdmin(admin.ModelAdmin):
    form = SameOrganizationForm
    list_display = ["symbol", "account", "organization", "quantity", "average_price", "updated_at"]
    list_select_related = ["account", "organization"]
    search_fields = ["symbol", "account__name", "organization__name"]
    raw_id_fields = ["organization", "account"]


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    form = SameOrganizationForm
    list_display = [
        "created_at",
        "organization",
        "account",
        "symbol",
        "side",
        "quantity",
        "order_type",
        "leg",
        "status",
        "filled_avg_price",
    ]
    list_filter = ["status", "side", "order_type", "leg"]
    list_select_related = ["organization", "account"]
    search_fields = ["symbol", "client_order_id", "broker_order_id", "organization__name"]
    raw_id_fields = ["organization", "account", "signal", "subscription", "parent"]
    readonly_fields = ["id", "client_order_id", "created_at", "updated_at"]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]


class PaperBookAdmin(admin.ModelAdmin):
    """The paper broker plays a remote broker: its book is for reading, not editing."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(PaperPrice)
class PaperPriceAdmin(PaperBookAdmin):
    list_display = ["symbol", "price", "organization", "updated_at"]
    list_select_related = ["organization"]
    search_fields = ["symbol", "organization__name", "organization__slug"]


@admin.register(PaperOrder)
class PaperOrderAdmin(PaperBookAdmin):
    list_display = [
        "created_at",
        "organization",
        "account",
        "symbol",
        "side",
        "quantity",
        "order_type",
        "status",
        "filled_avg_price",
    ]
    list_filter = ["status", "side", "order_type"]
    list_select_related = ["organization", "account"]
    search_fields = ["symbol", "client_order_id", "organization__name"]
    ordering = ["-created_at"]
