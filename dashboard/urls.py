from django.urls import path

from dashboard.views import (
    analytics,
    api_keys,
    approvals,
    brokers,
    exports,
    home,
    members,
    orders,
    signals,
    strategies,
    webhooks,
)

app_name = "dashboard"

urlpatterns = [
    path("", home.index, name="home"),
    path("organizations/new/", home.organization_new, name="organization_new"),
    path("organizations/switch/", home.organization_switch, name="organization_switch"),
    path("strategies/", strategies.strategy_list_view, name="strategy_list"),
    path("strategies/<uuid:strategy_id>/", strategies.strategy_detail, name="strategy_detail"),
    path(
        "strategies/<uuid:strategy_id>/toggle/", strategies.strategy_toggle, name="strategy_toggle"
    ),
    path(
        "strategies/<uuid:strategy_id>/subscribe/",
        strategies.subscription_new,
        name="subscription_new",
    ),
    path(
        "strategies/<uuid:strategy_id>/subscribe/preview/",
        strategies.subscription_new_preview,
        name="subscription_new_preview",
    ),
    path(
        "subscriptions/<uuid:subscription_id>/",
        strategies.subscription_edit,
        name="subscription_edit",
    ),
    path(
        "subscriptions/<uuid:subscription_id>/preview/",
        strategies.subscription_preview,
        name="subscription_preview",
    ),
    path("webhooks/", webhooks.webhook_list_view, name="webhook_list"),
    path("webhooks/<uuid:webhook_id>/", webhooks.webhook_detail, name="webhook_detail"),
    path("webhooks/<uuid:webhook_id>/edit/", webhooks.webhook_edit, name="webhook_edit"),
    path("webhooks/<uuid:webhook_id>/toggle/", webhooks.webhook_toggle, name="webhook_toggle"),
    path("webhooks/<uuid:webhook_id>/rotate/", webhooks.webhook_rotate, name="webhook_rotate"),
    path("webhooks/<uuid:webhook_id>/delete/", webhooks.webhook_delete_view, name="webhook_delete"),
    path("broker-accounts/", brokers.broker_account_list_view, name="broker_account_list"),
    path(
        "broker-accounts/<uuid:account_id>/",
        brokers.broker_account_detail,
        name="broker_account_detail",
    ),
    path(
        "broker-accounts/new/<str:broker>/", brokers.broker_account_new, name="broker_account_new"
    ),
    path(
        "broker-accounts/<uuid:account_id>/edit/",
        brokers.broker_account_edit,
        name="broker_account_edit",
    ),
    path(
        "broker-accounts/<uuid:account_id>/test-connection/",
        brokers.broker_account_test_connection_view,
        name="broker_account_test_connection",
    ),
    path(
        "broker-accounts/<uuid:account_id>/market-data/",
        brokers.broker_account_market_data,
        name="broker_account_market_data",
    ),
    path(
        "broker-accounts/<uuid:account_id>/drift/",
        brokers.broker_account_drift,
        name="broker_account_drift",
    ),
    path(
        "broker-accounts/<uuid:account_id>/reset/",
        brokers.broker_account_reset,
        name="broker_account_reset",
    ),
    path(
        "broker-accounts/<uuid:account_id>/cancel/",
        brokers.broker_account_cancel,
        name="broker_account_cancel",
    ),
    path("orders/<uuid:order_id>/cancel/", brokers.order_cancel_view, name="order_cancel"),
    path("approvals/", approvals.approval_list, name="approval_list"),
    path("approvals/<uuid:order_id>/approve/", approvals.approval_approve, name="approval_approve"),
    path("approvals/<uuid:order_id>/reject/", approvals.approval_reject, name="approval_reject"),
    path("members/", members.member_list, name="member_list"),
    path("members/<int:membership_id>/role/", members.member_role, name="member_role"),
    path("members/<int:membership_id>/remove/", members.member_remove, name="member_remove"),
    path("api-keys/", api_keys.api_key_list_view, name="api_key_list"),
    path("api-keys/<uuid:key_id>/revoke/", api_keys.api_key_revoke_view, name="api_key_revoke"),
    path("signals/", signals.signal_list_view, name="signal_list"),
    path("signals/export.csv", exports.signal_export_view, name="signal_export"),
    path("orders/", orders.order_list_view, name="order_list"),
    path("orders/export.csv", orders.order_export, name="order_export"),
    path(
        "broker-accounts/<uuid:account_id>/performance/",
        analytics.account_performance,
        name="account_performance",
    ),
    path(
        "strategies/<uuid:strategy_id>/performance/",
        analytics.strategy_performance_view,
        name="strategy_performance",
    ),
    path("signals/<uuid:signal_id>/", signals.signal_detail, name="signal_detail"),
]
