"""Writes on strategies and subscriptions, and the rules they keep so the pipeline never
meets a combination it cannot size or price. Every writer (REST API, admin, dashboard)
goes through these functions (config/rules.py)."""

import copy

from accounts.models import Organization
from brokers.models import BrokerAccount
from config.rules import Range, assign, range_errors, refuse, save_or_refuse
from strategies.models import Strategy, Subscription

NAME_TAKEN = "A strategy with this name already exists."
ALREADY_FOLLOWS = "This account already follows this strategy."

SUBSCRIPTION_RANGES = {
    "approval_timeout_seconds": Range(minimum=10, maximum=86400),
    "signal_quantity_multiplier": Range(above=0),
    "sizing_value": Range(above=0),
    "exit_percent_of_position": Range(above=0, maximum=100),
    "limit_price_offset": Range(minimum=0),
    "take_profit_value": Range(above=0),
    "stop_loss_value": Range(above=0),
    "max_position_size": Range(above=0),  # None = no limit
}


def strategy_validate(*, strategy: Strategy) -> None:
    taken = Strategy.objects.for_org(strategy.organization).filter(name=strategy.name)
    if taken.exclude(pk=strategy.pk).exists():
        refuse({"name": NAME_TAKEN}, conflict=True)


def strategy_create(*, organization: Organization, name: str, **fields) -> Strategy:
    strategy = Strategy(organization=organization, name=name, **fields)
    return _strategy_save(strategy)


def strategy_update(*, strategy: Strategy, **fields) -> Strategy:
    assign(strategy, fields.items())
    return _strategy_save(strategy)


def _strategy_save(strategy: Strategy) -> Strategy:
    strategy_validate(strategy=strategy)
    save_or_refuse(strategy, conflict={"name": NAME_TAKEN})
    return strategy


def subscription_validate(*, subscription: Subscription) -> None:
    """Refuse (RuleViolation, field -> message) settings that cannot work together."""
    errors: dict[str, str] = _subscription_owner_errors(subscription)
    errors |= range_errors(subscription, SUBSCRIPTION_RANGES)
    if (
        subscription.sizing_method == Subscription.Sizing.RISK_DOLLAR_AMOUNT
        and subscription.stop_loss_kind == Subscription.ExitKind.NONE
    ):
        errors["sizing_method"] = "Risk dollar amount sizing needs a default stop loss."
    for leg in ("take_profit", "stop_loss"):
        kind = getattr(subscription, f"{leg}_kind")
        if kind != Subscription.ExitKind.NONE and getattr(subscription, f"{leg}_value") is None:
            errors.setdefault(f"{leg}_value", f"A value is required when the kind is {kind}.")
    refuse(errors)
    if _subscription_taken(subscription):
        refuse({"account": ALREADY_FOLLOWS}, conflict=True)


def _subscription_owner_errors(subscription: Subscription) -> dict[str, str]:
    errors = {}
    if subscription.strategy.organization_id != subscription.organization_id:
        errors["strategy"] = "Strategy not found."
    if subscription.account.organization_id != subscription.organization_id:
        errors["account"] = "Account not found."
    return errors


def _subscription_taken(subscription: Subscription) -> bool:
    same = Subscription.objects.filter(
        strategy_id=subscription.strategy_id, account_id=subscription.account_id
    )
    return same.exclude(pk=subscription.pk).exists()


def subscription_create(
    *, organization: Organization, strategy: Strategy, account: BrokerAccount, **settings
) -> Subscription:
    subscription = Subscription(
        organization=organization, strategy=strategy, account=account, **settings
    )
    return _subscription_save(subscription)


def subscription_update(*, subscription: Subscription, **settings) -> Subscription:
    assign(subscription, settings.items())
    return _subscription_save(subscription)


def _subscription_save(subscription: Subscription) -> Subscription:
    subscription_validate(subscription=subscription)
    save_or_refuse(subscription, conflict={"account": ALREADY_FOLLOWS})
    return subscription


def subscription_draft(
    *,
    organization: Organization,
    strategy: Strategy,
    subscription: Subscription | None = None,
    **settings,
) -> Subscription:
    """Settings as they would be saved, checked by the same rules, but not saved: what the
    subscription page's preview plans with (the form's values before Save)."""
    if subscription is None:
        draft = Subscription(organization=organization, strategy=strategy)
    else:
        draft = copy.copy(subscription)
    assign(draft, settings.items())
    subscription_validate(subscription=draft)
    return draft
