"""Infrastructure faults in the pipeline delay a signal, never fail it: a PostgreSQL session
really terminated (pg_terminate_backend on the test database) in the middle of a signal is
retried to exactly the outcome it would have had, the per-ticker order holds, and a signal
whose retries ran out is left to the sweep, never FAILED."""

from datetime import timedelta
from decimal import Decimal as D

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from brokers.models import Order, PaperOrder, Position
from execution import submission
from signals import pipeline
from signals.faults import is_transient
from signals.models import Signal, SignalResult
from signals.pipeline import signal_sweep
from signals.tasks import process_signal
from tests.factories import SubscriptionFactory
from tests.signals.factories import signal_for
from tests.webhooks.conftest import database_url

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="terminates PostgreSQL sessions"),
]


def _terminate_own_session() -> None:
    """End this process's database session from another one, as a PostgreSQL restart or an
    operator would: the next statement on it fails with OperationalError."""
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    with psycopg.connect(database_url(), autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])


def _faulty(monkeypatch, module, name: str, times: int = 1) -> list[int]:
    """``module.name`` terminates the session before its first ``times`` calls."""
    real, calls = getattr(module, name), [0]

    def step(*args, **kwargs):
        calls[0] += 1
        if calls[0] <= times:
            _terminate_own_session()
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, step)
    return calls


def _position(account, symbol="AAPL") -> D:
    row = Position.objects.filter(account=account, symbol=symbol).first()
    return row.quantity if row else D("0")


@pytest.fixture
def sub(org):
    return SubscriptionFactory(
        strategy__organization=org, use_signal_quantity=True, sizing_value=D("10")
    )


def _run(signal: Signal) -> Signal:
    process_signal.delay(str(signal.pk))
    signal.refresh_from_db()
    return signal


@pytest.mark.parametrize(
    ("module", "step"),
    [
        (pipeline, "_plan_all"),  # the orders' transaction
        (pipeline, "target_plan"),  # an account's position read (its errors are its own)
        (pipeline, "_submit_all"),  # the broker submission's transaction
        (submission, "order_apply_submission"),  # after the paper broker booked the order
        (pipeline, "signal_finish"),  # the outcome
    ],
)
def test_a_session_lost_mid_signal_is_retried_to_the_same_outcome(monkeypatch, sub, module, step):
    calls = _faulty(monkeypatch, module, step)
    signal = _run(signal_for(strategy=sub.strategy, action="buy", price=100))

    assert calls[0] >= 2  # the step ran again after the fault
    assert signal.status == Signal.Status.COMPLETED, signal.error
    assert signal.error == "" and signal.attempts == 1  # an infra retry is not a death
    order = Order.objects.get()
    assert order.status == Order.Status.FILLED
    assert PaperOrder.objects.count() == 1 and _position(sub.account) == 10
    assert SignalResult.objects.get().status == SignalResult.Status.ORDERED


def test_infra_retries_never_add_up_to_gave_up(monkeypatch, settings, sub):
    # More faults in a row than SIGNAL_MAX_ATTEMPTS: still completes, nothing counted.
    settings.SIGNAL_RETRY_LIMIT = settings.SIGNAL_MAX_ATTEMPTS + 3
    _faulty(monkeypatch, pipeline, "_plan_all", times=settings.SIGNAL_MAX_ATTEMPTS + 2)
    signal = _run(signal_for(strategy=sub.strategy, action="buy", price=100))

    assert signal.status == Signal.Status.COMPLETED, signal.error
    assert signal.attempts == 1
    assert _position(sub.account) == 10


def test_retries_run_out_the_signal_waits_for_the_sweep_and_keeps_its_lane(
    monkeypatch, settings, sub
):
    settings.SIGNAL_RETRY_LIMIT = 1
    opening = signal_for(strategy=sub.strategy, action="buy", price=100)
    closing = signal_for(strategy=sub.strategy, action="exit", price=101)
    with monkeypatch.context() as patch:
        _faulty(patch, pipeline, "_submit_all", times=99)  # the database "stays down"
        with pytest.raises(Exception) as raised:
            process_signal.apply(args=[str(opening.pk)], throw=True)
    assert is_transient(raised.value)
    opening.refresh_from_db()
    assert opening.status == Signal.Status.PROCESSING  # not FAILED: the sweep's to rescue
    assert Order.objects.get(signal=opening).status == Order.Status.SUBMITTING
    assert not PaperOrder.objects.exists()

    # The later signal's own task runs first: it processes the earlier one before itself.
    closing = _run(closing)
    opening.refresh_from_db()
    assert opening.status == closing.status == Signal.Status.COMPLETED
    assert SignalResult.objects.get(signal=closing).status == SignalResult.Status.ORDERED
    assert _position(sub.account) == 0 and PaperOrder.objects.count() == 2
    assert opening.completed_at <= closing.planned_at


def test_the_sweep_rescues_a_signal_whose_retries_ran_out(monkeypatch, settings, sub):
    settings.SIGNAL_RETRY_LIMIT = 0
    signal = signal_for(strategy=sub.strategy, action="buy", price=100)
    with monkeypatch.context() as patch:
        _faulty(patch, pipeline, "_plan_all", times=99)
        process_signal.apply(args=[str(signal.pk)])
    signal.refresh_from_db()
    assert signal.status == Signal.Status.PROCESSING

    later = timezone.now() + timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 31)
    assert signal_sweep(now=later) == [signal.pk]
    signal = _run(signal)

    assert signal.status == Signal.Status.COMPLETED and _position(sub.account) == 10


def test_a_real_error_in_the_signal_still_ends_failed(monkeypatch, sub):
    def broken(run):
        raise ValueError("a bug in planning")

    monkeypatch.setattr(pipeline, "_plan_all", broken)
    signal = _run(signal_for(strategy=sub.strategy, action="buy", price=100))

    assert signal.status == Signal.Status.FAILED
    assert signal.error == "Internal error: ValueError: a bug in planning"
