"""Reads of strategy data, always scoped to an organization first."""

from django.db.models import QuerySet

from accounts.models import Organization
from brokers.models import BrokerAccount, Instrument
from strategies.models import Strategy, Subscription


def strategy_get(*, organization: Organization, strategy_id) -> Strategy:
    """Raises Strategy.DoesNotExist for another tenant's strategy (a 404 in views)."""
    return Strategy.objects.for_org(organization).get(pk=strategy_id)


def subscription_get(*, organization: Organization, subscription_id) -> Subscription:
    return (
        Subscription.objects.for_org(organization)
        .select_related("account", "strategy")
        .get(pk=subscription_id)
    )


def subscription_list_for_fanout(*, organization_id, strategy_id) -> QuerySet[Subscription]:
    """The enabled subscriptions a signal of this strategy goes to, with their accounts,
    in a stable order (so a re-run walks them the same way)."""
    return (
        Subscription.objects.filter(
            organization_id=organization_id,
            strategy_id=strategy_id,
            strategy__enabled=True,
            enabled=True,
        )
        .select_related("account")
        .order_by("created_at", "id")
    )


def subscription_for_account(*, organization_id, strategy_id, account: BrokerAccount):
    """The subscription whose settings apply to a signal naming one account (UTM)."""
    if strategy_id is None:
        return None
    return Subscription.objects.filter(
        organization_id=organization_id, strategy_id=strategy_id, account=account
    ).first()


def instrument_find(*, symbol: str, asset_class: str | None = None) -> Instrument | None:
    instruments = Instrument.objects.filter(symbol=symbol, active=True)
    if asset_class:
        instruments = instruments.filter(asset_class=asset_class)
    return instruments.first()


def strategy_list(*, organization: Organization) -> QuerySet[Strategy]:
    return Strategy.objects.for_org(organization).order_by("name")


def subscription_list(
    *,
    organization: Organization,
    strategy: Strategy | None = None,
    account: BrokerAccount | None = None,
) -> QuerySet[Subscription]:
    subscriptions = Subscription.objects.for_org(organization)
    if strategy is not None:
        subscriptions = subscriptions.filter(strategy=strategy)
    if account is not None:
        subscriptions = subscriptions.filter(account=account)
    return subscriptions.select_related("account", "strategy").order_by("created_at")
