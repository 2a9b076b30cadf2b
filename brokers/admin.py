"""Operator admin for broker accounts, orders, positions and the shared ticker database.
A broker account's encrypted credentials are never rendered, not even as ciphertext."""

from django.contrib import admin

from brokers.models import BrokerAccount, Instrument, Order, Position


@admin.register(Instrument)
class InstrumentAdmin(admin.ModelAdmin):
    list_display = ["symbol", "name", "asset_class", "exchange", "quantity_step", "active"]
    list_filter = ["asset_class", "active", "exchange"]
    search_fields = ["symbol", "name"]
    ordering = ["symbol"]


@admin.register(BrokerAccount)
class BrokerAccountAdmin(admin.ModelAdmin):
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
    list_display = ["symbol", "account", "organization", "quantity", "average_price", "updated_at"]
    list_select_related = ["account", "organization"]
    search_fields = ["symbol", "account__name", "organization__name"]
    raw_id_fields = ["organization", "account"]


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
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
