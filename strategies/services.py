"""Writes on strategies and subscriptions: the rules a subscription's settings must keep
so the pipeline never meets a combination it cannot size or price."""

from decimal import Decimal

from django.core.exceptions import ValidationError

from accounts.models import Organization
from brokers.models import BrokerAccount
from strategies.models import Strategy, Subscription


def strategy_create(*, organization: Organization, name: str, **fields) -> Strategy:
    return Strategy.objects.create(organization=organization, name=name, **fields)


def subscription_validate(*, subscription: Subscription) -> None:
    """Raise ValidationError (field -> message) for settings that cannot work together."""
    errors: dict[str, str] = {}
    if subscription.strategy.organization_id != subscription.organization_id:
        errors["strategy"] = "Strategy not found."
    if subscription.account.organization_id != subscription.organization_id:
        errors["account"] = "Account not found."
    if (
        subscription.sizing_method == Subscription.Sizing.RISK_DOLLAR_AMOUNT
        and subscription.stop_loss_kind == Subscription.ExitKind.NONE
    ):
        errors["sizing_method"] = "Risk dollar amount sizing needs a default stop loss."
    for name in ("sizing_value", "signal_quantity_multiplier"):
        if getattr(subscription, name) is not None and Decimal(getattr(subscription, name)) <= 0:
            errors[name] = "Must be greater than zero."
    if not 0 < Decimal(subscription.exit_percent_of_position) <= 100:
        errors["exit_percent_of_position"] = "Must be between 0 (excluded) and 100."
    if subscription.max_position_size is not None and subscription.max_position_size <= 0:
        errors["max_position_size"] = "Must be greater than zero, or empty for no limit."
    for kind in ("take_profit", "stop_loss"):
        value = getattr(subscription, f"{kind}_value")
        if getattr(subscription, f"{kind}_kind") != Subscription.ExitKind.NONE and not value:
            errors[f"{kind}_value"] = "A value is required for this kind."
    if errors:
        raise ValidationError(errors)


def subscription_create(
    *, organization: Organization, strategy: Strategy, account: BrokerAccount, **settings
) -> Subscription:
    subscription = Subscription(
        organization=organization, strategy=strategy, account=account, **settings
    )
    subscription_validate(subscription=subscription)
    subscription.save()
    return subscription


def subscription_update(*, subscription: Subscription, **settings) -> Subscription:
    for name, value in settings.items():
        setattr(subscription, name, value)
    subscription_validate(subscription=subscription)
    subscription.save()
    return subscription
