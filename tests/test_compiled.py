"""config.compiled: a queryset compiled once answers exactly what the ORM answers, for
each new set of key values, on whichever database the tests run."""

import uuid
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import F, Value
from django.db.models.functions import Concat
from django.test.utils import CaptureQueriesContext

from brokers.models import Position
from config import compiled
from config.compiled import CompiledQuery
from strategies.models import Subscription
from tests.factories import BrokerAccountFactory, OrganizationFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


def _subscriptions(organization_id, strategy_id):
    return (
        Subscription.objects.filter(organization_id=organization_id, strategy_id=strategy_id)
        .select_related("account", "strategy")
        .annotate(label=Concat(F("account__name"), Value("/"), F("strategy__name")))
        .order_by("created_at", "id")
    )


SUBSCRIPTIONS = CompiledQuery(_subscriptions, organization_id=uuid.UUID, strategy_id=uuid.UUID)


def _fields(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


def test_rows_objects_related_objects_and_annotations_match_the_orm():
    first = SubscriptionFactory()
    SubscriptionFactory(strategy=first.strategy, organization=first.organization)
    other = SubscriptionFactory()

    for sub in (first, other):
        keys = {"organization_id": sub.organization_id, "strategy_id": sub.strategy_id}
        expected = list(_subscriptions(**keys))
        found = SUBSCRIPTIONS.all(**keys)

        assert [_fields(s) for s in found] == [_fields(s) for s in expected]
        assert [_fields(s.account) for s in found] == [_fields(s.account) for s in expected]
        assert [_fields(s.strategy) for s in found] == [_fields(s.strategy) for s in expected]
        assert [s.label for s in found] == [s.label for s in expected]
        assert all(not s._state.adding and s._state.db == "default" for s in found)
    assert (
        len(SUBSCRIPTIONS.all(organization_id=first.organization_id, strategy_id=first.strategy_id))
        == 2
    )


def test_keys_may_come_as_strings_and_unknown_keys_find_nothing():
    sub = SubscriptionFactory()

    found = SUBSCRIPTIONS.first(
        organization_id=str(sub.organization_id), strategy_id=str(sub.strategy_id)
    )

    assert found.pk == sub.pk
    assert SUBSCRIPTIONS.first(organization_id=uuid.uuid4(), strategy_id=sub.strategy_id) is None


def test_the_sql_is_built_once_and_each_run_is_one_query():
    account = BrokerAccountFactory()
    Position.objects.create(
        organization_id=account.organization_id, account=account, symbol="AAPL", quantity=3
    )
    prices = CompiledQuery(
        lambda account_id, symbol, at_least: Position.objects.filter(
            account_id=account_id, symbol=symbol, quantity__gte=at_least
        ).values_list("quantity"),
        account_id=uuid.UUID,
        symbol=str,
        at_least=Decimal,
    )
    prices.rows(account_id=account.pk, symbol="AAPL", at_least=Decimal("1"))

    with CaptureQueriesContext(connection) as queries:
        rows = prices.rows(account_id=account.pk, symbol="AAPL", at_least=Decimal("1"))
        assert prices.rows(account_id=account.pk, symbol="AAPL", at_least=Decimal("4")) == []
        assert prices.rows(account_id=account.pk, symbol="MSFT", at_least=Decimal("0")) == []

    assert [list(row) for row in rows] == [[Decimal("3")]]
    assert len(queries) == 3
    assert len(prices._compiled) == 1  # one compilation for this database and thread


def test_a_key_the_query_does_not_use_is_refused():
    query = CompiledQuery(
        lambda organization_id: Subscription.objects.filter(enabled=True),
        organization_id=uuid.UUID,
    )
    OrganizationFactory()

    with pytest.raises(ValueError, match="organization_id"):
        query.all(organization_id=uuid.uuid4())


def test_missing_or_extra_values_are_refused():
    with pytest.raises(TypeError):
        SUBSCRIPTIONS.all(organization_id=uuid.uuid4())
    with pytest.raises(TypeError):
        SUBSCRIPTIONS.all(organization_id=uuid.uuid4(), strategy_id=uuid.uuid4(), extra=1)


# -- writes --------------------------------------------------------------------------------


def test_update_matches_queryset_update_with_in_filters_and_increments():
    from signals.models import Signal
    from tests.signals.factories import signal_for

    sub = SubscriptionFactory()
    pending, done = (
        signal_for(strategy=sub.strategy, action="buy"),
        signal_for(strategy=sub.strategy, action="buy"),
    )
    Signal.objects.filter(pk=done.pk).update(status=Signal.Status.COMPLETED)
    active = (Signal.Status.PENDING, Signal.Status.PROCESSING)

    claimed = [
        compiled.update(
            Signal,
            where={"pk": row.pk, "status": active},
            status=Signal.Status.PROCESSING,
            attempts=compiled.Increment(1),
        )
        for row in (pending, done, pending)
    ]

    assert claimed == [1, 0, 1]
    pending.refresh_from_db()
    done.refresh_from_db()
    assert (pending.status, pending.attempts) == (Signal.Status.PROCESSING, 2)
    assert (done.status, done.attempts) == (Signal.Status.COMPLETED, 0)


def test_insert_writes_what_save_writes_and_takes_back_an_automatic_key():
    from signals.models import SignalResult
    from tests.signals.factories import signal_for

    sub = SubscriptionFactory()
    signal = signal_for(strategy=sub.strategy, action="buy")
    fields = {
        "organization_id": signal.organization_id,
        "signal": signal,
        "subscription": sub,
        "account": sub.account,
        "status": SignalResult.Status.ORDERED,
        "reason": "buy 1 (entry)",
        "plan": {"brackets": {}, "reference_price": "101.5"},
    }
    ours = SignalResult(**fields)

    compiled.insert(ours)

    assert ours.pk is not None and not ours._state.adding
    saved = SignalResult.objects.get(pk=ours.pk)
    assert _fields(saved) == _fields(ours)
    assert saved.plan == {"brackets": {}, "reference_price": "101.5"}


def test_insert_takes_the_orm_path_for_a_model_with_receivers():
    from django.db.models.signals import post_save

    from signals.models import SignalResult
    from tests.signals.factories import signal_for

    sub = SubscriptionFactory()
    seen = []

    def receiver(sender, instance, created, **kwargs):
        seen.append((instance.pk, created))

    post_save.connect(receiver, sender=SignalResult)
    try:
        row = SignalResult(
            organization_id=sub.organization_id,
            signal=signal_for(strategy=sub.strategy, action="buy"),
            account=sub.account,
            status=SignalResult.Status.IGNORED,
        )
        compiled.insert(row)
    finally:
        post_save.disconnect(receiver, sender=SignalResult)

    assert seen == [(row.pk, True)]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL prepared statements")
def test_on_postgresql_the_statements_are_prepared_on_the_server_unless_turned_off(settings):
    sub = SubscriptionFactory()

    def prepared() -> list[str]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT statement FROM pg_prepared_statements")
            return [row[0] for row in cursor.fetchall() if "strategies_subscription" in row[0]]

    settings.DB_PREPARED_STATEMENTS = False
    before = prepared()  # this session may have prepared it in an earlier test
    SUBSCRIPTIONS.all(organization_id=sub.organization_id, strategy_id=sub.strategy_id)
    assert prepared() == before

    settings.DB_PREPARED_STATEMENTS = True
    for _ in range(3):
        SUBSCRIPTIONS.all(organization_id=sub.organization_id, strategy_id=sub.strategy_id)
    assert len(prepared()) == 1
