"""Operator admin for tenants, people and API keys.

Secrets stay out of every page: an API key's digest is neither shown nor editable, and keys
are issued only where the raw value can be shown once to its owner (dashboard/API), never
here.
"""

from datetime import datetime, time

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.admin_forms import ServiceRulesForm
from accounts.models import ApiKey, Membership, Organization, User
from accounts.services import (
    api_key_revoke,
    api_key_validate,
    organization_reactivate,
    organization_suspend,
)
from signals.models import Signal
from webhooks.models import Webhook


def _count_per_org(queryset: QuerySet) -> Coalesce:
    """A correlated COUNT per organization row: one query for the whole changelist, and no
    row multiplication as two joined Counts would cause."""
    counts = (
        queryset.filter(organization=OuterRef("pk"))
        .order_by()
        .values("organization")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counts, output_field=IntegerField()), 0)


def _start_of_today():
    today = timezone.localdate()
    return timezone.make_aware(datetime.combine(today, time.min))


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]


class UserMembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["organization"]
    fields = ["organization", "role", "created_at"]
    readonly_fields = ["created_at"]


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "slug",
        "status",
        "plan",
        "webhooks_count",
        "signals_today",
        "created_at",
    ]
    list_filter = ["status", "plan"]
    search_fields = ["name", "slug"]
    readonly_fields = ["id", "created_at", "suspended_at"]
    inlines = [MembershipInline]
    actions = ["suspend", "reactivate"]
    ordering = ["-created_at"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                webhooks_total=_count_per_org(Webhook.objects.all()),
                signals_today_total=_count_per_org(
                    Signal.objects.filter(received_at__gte=_start_of_today())
                ),
            )
        )

    @admin.display(description="Webhooks", ordering="webhooks_total")
    def webhooks_count(self, obj: Organization) -> int:
        return obj.webhooks_total

    @admin.display(description="Signals today", ordering="signals_today_total")
    def signals_today(self, obj: Organization) -> int:
        return obj.signals_today_total

    @admin.action(description="Suspend selected organizations")
    def suspend(self, request, queryset):
        for organization in queryset:
            organization_suspend(organization=organization)
        self.message_user(request, f"Suspended {len(queryset)} organization(s).")

    @admin.action(description="Reactivate selected organizations")
    def reactivate(self, request, queryset):
        for organization in queryset:
            organization_reactivate(organization=organization)
        self.message_user(request, f"Reactivated {len(queryset)} organization(s).")


class UserCreationForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email",)

    def clean_email(self) -> str:
        # Logins are case-insensitive in practice; the manager stores emails lowercased.
        email = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("A user with this email already exists.")
        return email


class UserEditForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserEditForm
    add_form = UserCreationForm
    list_display = ["email", "name", "is_staff", "is_active", "date_joined", "last_login"]
    list_filter = ["is_staff", "is_superuser", "is_active"]
    search_fields = ["email", "name"]
    ordering = ["email"]
    readonly_fields = ["last_login", "date_joined"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Profile", {"fields": ["name"]}),
        (
            "Permissions",
            {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]},
        ),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (
            None,
            {
                "classes": ["wide"],
                "fields": ["email", "usable_password", "password1", "password2"],
            },
        )
    ]
    inlines = [UserMembershipInline]

    def get_inlines(self, request, obj):
        # The add form is email + password only, like Django's own user admin.
        return self.inlines if obj is not None else []


class ApiKeyStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("active", "Active"), ("revoked", "Revoked")]

    def queryset(self, request, queryset):
        if self.value() in ("active", "revoked"):
            return queryset.filter(revoked_at__isnull=self.value() == "active")
        return queryset


class ApiKeyForm(ServiceRulesForm):
    scopes = forms.MultipleChoiceField(
        choices=ApiKey.Scope.choices, widget=forms.CheckboxSelectMultiple, required=False
    )

    class Meta:
        model = ApiKey
        fields = ["name", "scopes", "mode"]

    def validate_rules(self, instance: ApiKey) -> None:
        api_key_validate(key=instance)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyForm
    list_display = [
        "name",
        "prefix",
        "organization",
        "scopes",
        "mode",
        "last_used_at",
        "revoked",
        "created_at",
    ]
    list_filter = [ApiKeyStateFilter, "mode"]
    list_select_related = ["organization"]
    search_fields = ["name", "prefix", "organization__name", "organization__slug"]
    readonly_fields = [
        "organization",
        "prefix",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    fields = ["organization", "name", "prefix", "scopes", "mode"] + readonly_fields[2:]
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        # A new key's raw value can be shown only once; that belongs to its owner in the
        # dashboard or API, not to an operator page.
        return False

    @admin.display(boolean=True, description="Revoked", ordering="revoked_at")
    def revoked(self, obj: ApiKey) -> bool:
        return obj.revoked_at is not None

    @admin.action(description="Revoke selected API keys")
    def revoke(self, request, queryset):
        for key in queryset:
            api_key_revoke(key=key)
        self.message_user(request, f"Revoked {len(queryset)} API key(s).", messages.SUCCESS)
