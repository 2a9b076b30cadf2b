"""config.celery's hook between a worker's tasks: the database connection is kept (Django's
CONN_MAX_AGE rules apply), except when a lane lock outlived its task."""

from types import SimpleNamespace

import pytest
from django.db import connection

from config.celery import _database_between_tasks
from signals import lanes

pytestmark = pytest.mark.django_db(transaction=True)


def _task(eager: bool = False):
    return SimpleNamespace(request=SimpleNamespace(is_eager=eager))


def _session():
    connection.ensure_connection()
    return connection.connection


def test_a_worker_keeps_its_connection_between_tasks():
    before = _session()

    _database_between_tasks(sender=_task())

    assert connection.connection is before


@pytest.mark.skipif(connection.vendor != "postgresql", reason="lanes lock on PostgreSQL")
def test_a_lane_lock_left_after_a_task_ends_the_session(monkeypatch):
    _session()
    monkeypatch.setattr(lanes, "_held", {"org:AAPL"})

    _database_between_tasks(sender=_task())

    assert connection.connection is None


def test_eager_tasks_leave_the_callers_connection_alone(monkeypatch):
    before = _session()
    monkeypatch.setattr(lanes, "_held", {"org:AAPL"})

    _database_between_tasks(sender=_task(eager=True))

    assert connection.connection is before


@pytest.mark.skipif(connection.vendor != "postgresql", reason="advisory locks")
def test_lanes_track_the_locks_they_hold():
    with lanes.lane_lock(organization_id="org", ticker="aapl"):
        assert lanes.lanes_held()
    assert not lanes.lanes_held()


def test_a_new_worker_process_warms_up_and_freezes_what_is_loaded():
    import gc

    from config.celery import _warm_up_worker_process

    gc.unfreeze()
    try:
        _warm_up_worker_process()

        assert gc.get_freeze_count() > 10_000  # Django, Celery and the project, at least
        assert not lanes.lanes_held()
    finally:
        gc.unfreeze()
