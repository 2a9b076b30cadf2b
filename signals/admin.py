"""The signal log in admin: read-only, because it is the record of what was received and
what each account did with it."""

from django.contrib import admin

from signals.models import RejectedAttempts, Signal, SignalResult


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class SignalResultInline(admin.TabularInline):
    model = SignalResult
    extra = 0
    fields = ["account", "subscription", "status", "reason", "created_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Signal)
class SignalAdmin(ReadOnlyAdmin):
    list_display = [
        "received_at",
        "organization",
        "dialect",
        "ticker",
        "action",
        "status",
        "message_code",
        "source_ip",
    ]
    list_filter = ["status", "dialect", "message_code"]
    list_select_related = ["organization"]
    search_fields = ["=id", "=log_id", "ticker", "organization__name", "organization__slug"]
    date_hierarchy = "received_at"
    ordering = ["-received_at"]
    inlines = [SignalResultInline]


@admin.register(SignalResult)
class SignalResultAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "organization", "signal", "account", "status", "reason"]
    list_filter = ["status"]
    list_select_related = ["organization", "signal", "account"]
    search_fields = ["=signal__id", "account__name", "organization__name", "reason"]
    ordering = ["-created_at"]


@admin.register(RejectedAttempts)
class RejectedAttemptsAdmin(ReadOnlyAdmin):
    """Requests to a webhook without its right password, one row per webhook, code and
    minute (they are counted, not logged one by one)."""

    list_display = [
        "window_start",
        "organization",
        "webhook",
        "message_code",
        "count",
        "last_seen_at",
        "sample_ips",
    ]
    list_filter = ["message_code"]
    list_select_related = ["organization", "webhook"]
    search_fields = ["=id", "=webhook__id", "organization__name", "organization__slug"]
    date_hierarchy = "window_start"
    ordering = ["-window_start"]
